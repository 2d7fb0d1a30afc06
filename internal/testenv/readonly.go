package testenv

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SetReadOnly makes the database of dbURL refuse writes (on) or take them again (off), as a
// primary does while it is demoted during a failover: every write then fails with SQLSTATE 25006
// (read_only_sql_transaction). It sets default_transaction_read_only on that database only, so
// tests running side by side on the server are not affected, and terminates the database's
// sessions, since the setting applies to sessions that start after it: pooled connections
// reconnect into it. It returns how many sessions it terminated.
func SetReadOnly(t testing.TB, dbURL string, on bool) int {
	t.Helper()
	name, err := databaseName(dbURL)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The admin database, never the one made read-only: this session must not end itself.
	conn, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		t.Fatalf("testenv: connect to set %s read-only: %v", name, err)
	}
	defer conn.Close(ctx)
	value := "off"
	if on {
		value = "on"
	}
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" SET default_transaction_read_only = "+value); err != nil {
		t.Fatalf("testenv: set %s read-only %s: %v", name, value, err)
	}
	var terminated int
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&terminated)
	if err != nil {
		t.Fatalf("testenv: terminate the sessions of %s: %v", name, err)
	}
	return terminated
}

// databaseName is the database a PostgreSQL URL names.
func databaseName(dbURL string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return "", fmt.Errorf("database url %s names no database", u.Redacted())
	}
	return name, nil
}

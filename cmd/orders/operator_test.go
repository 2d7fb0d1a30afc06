package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/shopflow/orders/internal/testenv"
)

// TestOperatorCommandsNeverMigrate: an operator command against a database the service has not
// migrated fails with a message that says what to run, and leaves the database as it was.
func TestOperatorCommandsNeverMigrate(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": dbURL}[k] }
	for _, args := range [][]string{{"keys", "list"}, {"attention", "resolve", "0195a0c4-6c1e-7d2a-9b7e-0000000e00ff"}, {"projections", "rebuild"}} {
		var out bytes.Buffer
		err := run(context.Background(), args, getenv, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "orders migrate") {
			t.Errorf("orders %s on an unmigrated database: %v; want an error that says to run orders migrate", strings.Join(args, " "), err)
		}
	}
	var tables int
	if err := connectDB(t, dbURL).QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("operator commands left %d tables in a database they must not migrate", tables)
	}
}

// TestUsageNamesEveryRole: the usage text lists every worker role the config accepts.
func TestUsageNamesEveryRole(t *testing.T) {
	for _, r := range knownRoles {
		if !strings.Contains(usage, r) {
			t.Errorf("usage does not name the worker role %q", r)
		}
	}
}

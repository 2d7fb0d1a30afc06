// Package testenv gives tests their own real dependencies: a fresh PostgreSQL database and
// an embedded JetStream server, both removed when the test ends. A dependency that cannot be
// reached fails the test; it is never skipped.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/natsserver"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/migrations"
)

// adminURL is the server tests create their databases on; TEST_DATABASE_URL overrides it.
func adminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// DatabaseURL creates an empty database for this test and returns its URL. The database is
// dropped when the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		t.Fatalf("testenv: PostgreSQL is required and unreachable at %s (run .ci/run or start it): %v", adminURL(), err)
	}
	defer conn.Close(ctx)
	name := "orders_test_" + randomHex(t, 6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminURL())
		if err != nil {
			t.Errorf("testenv: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(adminURL())
	if err != nil {
		t.Fatalf("testenv: admin url: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Pool returns a pool on a fresh, migrated database.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, DatabaseURL(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, migrations.FS); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return pool
}

// JetStream starts an embedded server on a random loopback port with its data in a temp
// directory, creates the program's streams and buckets, and returns its URL.
func JetStream(t testing.TB) string {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	js := Connect(t, srv.ClientURL())
	if err := broker.EnsureTopology(context.Background(), js, broker.TopologyConfig{}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return srv.ClientURL()
}

// Connect opens a connection of its own to url, closed when the test ends.
func Connect(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("testenv: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return js
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return hex.EncodeToString(b)
}

// ProjectionRows dumps every projection table, row by row, in a fixed order. A status counter
// at 0 is left out: it says nothing, and whether its row exists depends on how the events were
// grouped when they were applied (the counters move by each call's net change).
func ProjectionRows(t testing.TB, db *pgxpool.Pool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, order := range map[string]string{"proj_orders": "id", "proj_sales_daily": "day, sku, currency",
		"proj_status_counts": "status", "proj_stock": "sku"} {
		where := ""
		if table == "proj_status_counts" {
			where = " WHERE orders <> 0"
		}
		rows, err := db.Query(context.Background(), `SELECT t::text FROM `+table+` t`+where+` ORDER BY `+order)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out[table] = texts
	}
	return out
}

// SameProjections fails the test where two dumps of ProjectionRows differ, naming the first
// row that differs in each table.
func SameProjections(t testing.TB, wantName string, want map[string][]string, gotName string, got map[string][]string) {
	t.Helper()
	for table, rows := range want {
		if len(rows) != len(got[table]) {
			t.Errorf("%s: %d rows %s, %d %s", table, len(rows), wantName, len(got[table]), gotName)
			continue
		}
		for i := range rows {
			if rows[i] != got[table][i] {
				t.Errorf("%s row %d:\n %-8s %s\n %-8s %s", table, i, wantName, rows[i], gotName, got[table][i])
				break
			}
		}
	}
}

// Counter reads counter name from reg: the series whose labels include every pair of labels
// (name, value, name, value, …), or 0 when there is none yet.
func Counter(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/internal/testenv"
)

// TestServiceRunsWithoutDDL runs migrations as the owner (MIGRATE_DATABASE_URL) and the service
// as a role holding only the grants the README documents; an order flows, and the service role
// cannot change the schema.
func TestServiceRunsWithoutDDL(t *testing.T) {
	t.Parallel()
	ownerURL := testenv.DatabaseURL(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := "orders_app_" + hex.EncodeToString(b)
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	if _, err := owner.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs after everything connected as the role has stopped
		c, err := pgx.Connect(context.Background(), ownerURL)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(context.Background())
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := c.Exec(context.Background(), q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	if err := run(ctx, []string{"migrate"}, func(k string) string { return map[string]string{"DATABASE_URL": ownerURL}[k] }, &syncBuffer{}, &syncBuffer{}); err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(mustParse(t, ownerURL).Path, "/")
	for _, grant := range serviceGrants(dbName, role) {
		if _, err := owner.Exec(ctx, grant); err != nil {
			t.Fatalf("%s: %v", grant, err)
		}
	}
	u := mustParse(t, ownerURL)
	u.User = url.User(role)
	serviceURL := u.String()

	in := startInstance(t, "run", map[string]string{"DATABASE_URL": serviceURL, "MIGRATE_DATABASE_URL": ownerURL, "DATA_DIR": t.TempDir()})
	c := newClient(in.api)
	c.setStock(t, "SKU-1", 3)
	id, res, err := c.placeOrder("k", orderBody("c", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 10}))
	if err != nil || id == "" {
		t.Fatalf("order: %v %d %s", err, res.status, res.body)
	}
	waitSettled(t, connectDB(t, serviceURL), []string{id}, 30*time.Second)

	svc, err := pgx.Connect(ctx, serviceURL)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(ctx)
	for _, ddl := range []string{"CREATE TABLE sneaky (x int)", "DROP TABLE orders", "ALTER TABLE stock DROP CONSTRAINT stock_available_not_negative"} {
		if _, err := svc.Exec(ctx, ddl); err == nil {
			t.Errorf("service role ran %q", ddl)
		}
	}
}

// serviceGrants are the grants README.md documents for the service role.
func serviceGrants(db, role string) []string {
	return []string{
		"GRANT CONNECT ON DATABASE " + db + " TO " + role,
		"GRANT USAGE ON SCHEMA public TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + role,
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

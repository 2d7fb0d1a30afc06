package postgres_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
	"github.com/shopflow/orders/migrations"
)

func TestEnsureDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	home := testenv.DatabaseURL(t) // the server tests use, and a database to drop ours from
	// Upper case and a dash: the name must be quoted to survive CREATE DATABASE.
	name := "orders-Ensure-" + rand.Text()[:8]
	u, err := url.Parse(home)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), home)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	exists := func() bool {
		t.Helper()
		conn, err := pgx.Connect(ctx, home)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if exists() {
		t.Fatalf("%s exists before the test", name)
	}
	for i := range 2 {
		if err := postgres.EnsureDatabase(ctx, u.String()); err != nil {
			t.Fatalf("EnsureDatabase #%d: %v", i+1, err)
		}
		if !exists() {
			t.Fatalf("EnsureDatabase #%d: %s does not exist", i+1, name)
		}
	}
	pool, err := postgres.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connect to the new database: %v", err)
	}
	pool.Close()
}

func TestEnsureDatabaseRejectsURLWithoutDatabase(t *testing.T) {
	t.Parallel()
	if err := postgres.EnsureDatabase(context.Background(), "postgres://postgres@127.0.0.1:5432"); err == nil {
		t.Error("EnsureDatabase accepted a URL naming no database")
	}
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Pool(t) // migrated once
	if _, err := pool.Exec(ctx, `INSERT INTO stock (sku, on_hand) VALUES ('kept', 3)`); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, migrations.FS); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM stock WHERE sku = 'kept'`); n != 1 {
		t.Errorf("second Migrate lost data: %d rows", n)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	url := testenv.DatabaseURL(t)
	for i := range errs {
		pool, err := postgres.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, pool, migrations.FS) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
}

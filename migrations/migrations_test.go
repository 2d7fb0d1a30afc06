package migrations_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
	"github.com/shopflow/orders/migrations"
)

// upTo returns the migrations numbered up to and including last (a 5-digit prefix).
func upTo(t *testing.T, last string) fs.FS {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, name := range names {
		if strings.Compare(name[:5], last) <= 0 {
			b, err := fs.ReadFile(migrations.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = &fstest.MapFile{Data: b}
		}
	}
	return out
}

// TestInterruptedConcurrentIndexIsRebuilt: a CREATE INDEX CONCURRENTLY that fails part way
// (here a unique build meeting duplicates, as an interrupted build would) leaves an INVALID
// index under the name; 00007's IF NOT EXISTS then skips it and records itself applied. The
// migrations must leave a valid index all the same.
func TestInterruptedConcurrentIndexIsRebuilt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, upTo(t, "00006")); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO inbox (consumer, message_id, processed_at) VALUES
		('c', 'm1', '2026-01-01T00:00:00Z'), ('c', 'm2', '2026-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE UNIQUE INDEX CONCURRENTLY inbox_processed_at_idx ON inbox (processed_at)`); err == nil {
		t.Fatal("the unique build over duplicates succeeded; the test needs it to fail")
	}
	if state := indexState(t, pool); state != "invalid" {
		t.Fatalf("after the failed build: inbox_processed_at_idx is %s, want invalid", state)
	}

	if err := postgres.Migrate(ctx, pool, migrations.FS); err != nil {
		t.Fatal(err)
	}
	if state := indexState(t, pool); state != "valid" {
		t.Errorf("after the migrations: inbox_processed_at_idx is %s, want valid", state)
	}
	var unique bool
	if err := pool.QueryRow(ctx, `SELECT indisunique FROM pg_index WHERE indexrelid = to_regclass('inbox_processed_at_idx')`).Scan(&unique); err != nil || unique {
		t.Errorf("inbox_processed_at_idx unique = %v (%v), want the plain index 00007 defines", unique, err)
	}
	// Applying them again changes nothing and fails nothing.
	if err := postgres.Migrate(ctx, pool, migrations.FS); err != nil {
		t.Fatal(err)
	}
}

// indexState says whether inbox_processed_at_idx is "valid", "invalid" or "missing".
func indexState(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var state string
	err := pool.QueryRow(context.Background(), `SELECT COALESCE((SELECT CASE WHEN indisvalid THEN 'valid' ELSE 'invalid' END
		FROM pg_index WHERE indexrelid = to_regclass('inbox_processed_at_idx')), 'missing')`).Scan(&state)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

const consumer = events.ConsumerInventoryPlaceOrder

var (
	clock      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	acceptedAt = clock.Add(-time.Second)
)

// newStore returns a store on a fresh migrated database, and its pool for inspection.
func newStore(t testing.TB) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.Pool(t)
	store, err := postgres.NewStore(pool, postgres.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return store, pool
}

func setStock(t testing.TB, s *postgres.Store, levels map[string]int64) {
	t.Helper()
	for sku, n := range levels {
		if _, err := s.SetStock(context.Background(), sku, n); err != nil {
			t.Fatalf("SetStock %s: %v", sku, err)
		}
	}
}

func stock(t testing.TB, s *postgres.Store, sku string) inventory.Stock {
	t.Helper()
	st, err := s.GetStock(context.Background(), sku)
	if err != nil {
		t.Fatalf("GetStock %s: %v", sku, err)
	}
	return st
}

func params(id string, lines ...order.Line) order.PlaceParams {
	return order.PlaceParams{ID: id, Storefront: "default", CustomerID: "c-1", Currency: "EUR",
		Lines: lines, PaymentToken: "tok_visa", AcceptedAt: acceptedAt}
}

func line(sku string, qty int64) order.Line {
	return order.Line{SKU: sku, Quantity: qty, UnitPrice: 100}
}

// place applies the PlaceOrder command for p once, as the inventory worker does.
func place(t testing.TB, s *postgres.Store, p order.PlaceParams) order.Status {
	t.Helper()
	status, dup, err := testenv.PlaceAt(context.Background(), s, consumer, p, "corr-"+p.ID, clock)
	if err != nil || dup {
		t.Fatalf("PlaceOrder %s = %s, duplicate %v, %v", p.ID, status, dup, err)
	}
	return status
}

// count returns the result of a SELECT count(*) … query.
func count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// outboxNames returns the names in the outbox, oldest first.
func outboxNames(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT name FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

// BenchmarkPlaceOrder measures the intake transaction (inbox, order, three-line reservation,
// history, outbox) against the real PostgreSQL, one at a time.
func BenchmarkPlaceOrder(b *testing.B) {
	s, err := postgres.NewStore(testenv.Pool(b), postgres.GroupConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, sku := range []string{"A", "B", "C"} {
		if _, err := s.SetStock(ctx, sku, 1_000_000_000); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("0195a0c4-6c1e-7d2a-9b7e-%012d", i)
		p := order.PlaceParams{ID: id, Storefront: "s", CustomerID: "c", Currency: "EUR", PaymentToken: "t", AcceptedAt: time.Now(),
			Lines: []order.Line{{SKU: "A", Quantity: 1, UnitPrice: 1}, {SKU: "B", Quantity: 2, UnitPrice: 2}, {SKU: "C", Quantity: 3, UnitPrice: 3}}}
		if _, _, err := testenv.Place(ctx, s, "bench", p, "c"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayBatch measures one relay transaction of 256 outbox rows (read, hand over,
// delete, commit), the publish itself left out.
func BenchmarkRelayBatch(b *testing.B) {
	pool := testenv.Pool(b)
	s, err := postgres.NewStore(pool, postgres.GroupConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	publish := func(context.Context, []events.Envelope) error { return nil }
	for b.Loop() {
		b.StopTimer()
		if _, err := pool.Exec(ctx, `INSERT INTO outbox (message_id, subject, name, order_id, correlation_id, occurred_at, payload)
			SELECT gen_random_uuid()::text, 'evt.x', 'x', gen_random_uuid(), 'c', now(), '\x7b7d' FROM generate_series(1, 256)`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := s.RelayBatch(ctx, 256, publish); err != nil || n != 256 {
			b.Fatalf("relayed %d: %v", n, err)
		}
	}
}

// BenchmarkProjectOrder measures one projection update: a new order's placed and reserved
// events applied to the read side (version check, lock, event-store read, projection writes).
func BenchmarkProjectOrder(b *testing.B) {
	s, err := postgres.NewStore(testenv.Pool(b), postgres.GroupConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.SetStock(ctx, "A", 1_000_000_000); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		id := fmt.Sprintf("0195a0c4-6c1e-7d2a-9b7e-%012d", i)
		p := order.PlaceParams{ID: id, Storefront: "s", CustomerID: "c", Currency: "EUR", PaymentToken: "t", AcceptedAt: time.Now(),
			Lines: []order.Line{{SKU: "A", Quantity: 1, UnitPrice: 1}}}
		if _, _, err := testenv.Place(ctx, s, "bench", p, "c"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := s.ProjectOrder(ctx, id, 2); err != nil || n != 2 {
			b.Fatalf("applied %d: %v", n, err)
		}
	}
}

package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

func TestPlaceOrderReserves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	setStock(t, s, map[string]int64{"SKU-A": 10, "SKU-B": 5})
	id := "0195a0c4-6c1e-7d2a-9b7e-000000000001"
	p := params(id, line("SKU-B", 2), line("SKU-A", 3))

	if status := place(t, s, p); status != order.StatusReserved {
		t.Fatalf("status = %s, want reserved", status)
	}
	for sku, want := range map[string]inventory.Stock{
		"SKU-A": {SKU: "SKU-A", OnHand: 10, Reserved: 3}, "SKU-B": {SKU: "SKU-B", OnHand: 5, Reserved: 2},
	} {
		if got := stock(t, s, sku); got != want {
			t.Errorf("stock %s = %+v, want %+v", sku, got, want)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM reservations WHERE order_id = $1 AND
		((sku = 'SKU-A' AND quantity = 3) OR (sku = 'SKU-B' AND quantity = 2))`, id); n != 2 {
		t.Errorf("reservations rows = %d, want SKU-A×3 and SKU-B×2", n)
	}
	o, err := s.GetOrder(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status() != order.StatusReserved || o.Version() != 2 || !slices.Equal(o.Lines(), p.Lines) {
		t.Errorf("order = %s v%d lines %+v", o.Status(), o.Version(), o.Lines())
	}
	wantHistory := []order.Change{
		{Version: 1, Status: order.StatusPending, At: p.AcceptedAt},
		{Version: 2, Status: order.StatusReserved, At: clock},
	}
	if h := o.History(); !historyEqual(h, wantHistory) {
		t.Errorf("history = %+v, want %+v", h, wantHistory)
	}
	if got := outboxNames(t, pool); !slices.Equal(got, []string{events.NameOrderPlaced, events.NameStockReserved}) {
		t.Errorf("outbox = %q, want order.placed.v1 then stock.reserved.v1", got)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE order_id = $1 AND correlation_id = $2 AND subject = 'evt.' || name
		AND message_id IN ($3, $4)`, id, "corr-"+id,
		events.MessageID(id, events.NameOrderPlaced, 1), events.MessageID(id, events.NameStockReserved, 2)); n != 2 {
		t.Errorf("outbox rows with the right ids, subjects and correlation = %d, want 2", n)
	}
}

func historyEqual(a, b []order.Change) bool {
	return slices.EqualFunc(a, b, func(x, y order.Change) bool {
		return x.Version == y.Version && x.Status == y.Status && x.Reason == y.Reason && x.At.Equal(y.At)
	})
}

func TestPlaceOrderRejects(t *testing.T) {
	t.Parallel()
	levels := map[string]int64{"SKU-A": 10, "SKU-B": 1, "SKU-C": 10}
	tests := []struct {
		name   string
		lines  []order.Line
		reason string
	}{
		{"out of stock after a reserved line", []order.Line{line("SKU-A", 3), line("SKU-B", 2)}, "out_of_stock: SKU-B"},
		{"out of stock before a reservable line", []order.Line{line("SKU-C", 4), line("SKU-B", 2)}, "out_of_stock: SKU-B"},
		{"unknown sku after reserved lines", []order.Line{line("SKU-A", 3), line("SKU-C", 1), line("SKU-X", 1)}, "unknown_sku: SKU-X"},
		{"unknown sku first", []order.Line{line("SKU-A", 3), line("SKU-0", 1)}, "unknown_sku: SKU-0"},
		{"first failing sku in sorted order", []order.Line{line("SKU-Z", 1), line("SKU-B", 5)}, "out_of_stock: SKU-B"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, pool := newStore(t)
			setStock(t, s, levels)
			id := "0195a0c4-6c1e-7d2a-9b7e-000000000002"
			if status := place(t, s, params(id, tc.lines...)); status != order.StatusRejected {
				t.Fatalf("status = %s, want rejected", status)
			}
			for sku, onHand := range levels {
				if got, want := stock(t, s, sku), (inventory.Stock{SKU: sku, OnHand: onHand}); got != want {
					t.Errorf("stock %s = %+v, want it untouched %+v", sku, got, want)
				}
			}
			if n := count(t, pool, `SELECT count(*) FROM reservations`); n != 0 {
				t.Errorf("reservations rows = %d, want 0", n)
			}
			o, err := s.GetOrder(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			want := []order.Change{
				{Version: 1, Status: order.StatusPending, At: acceptedAt},
				{Version: 2, Status: order.StatusRejected, Reason: tc.reason, At: clock},
			}
			if o.Status() != order.StatusRejected || !historyEqual(o.History(), want) {
				t.Errorf("order %s history %+v, want %+v", o.Status(), o.History(), want)
			}
			if got := outboxNames(t, pool); !slices.Equal(got, []string{events.NameOrderPlaced, events.NameOrderRejected}) {
				t.Errorf("outbox = %q, want order.placed.v1 then order.rejected.v1", got)
			}
		})
	}
}

func TestPlaceOrderDuplicateMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	setStock(t, s, map[string]int64{"SKU-A": 10})
	id := "0195a0c4-6c1e-7d2a-9b7e-000000000003"
	place(t, s, params(id, line("SKU-A", 3)))
	snapshot := func() []int {
		return []int{
			count(t, pool, `SELECT count(*) FROM orders`), count(t, pool, `SELECT count(*) FROM order_history`),
			count(t, pool, `SELECT count(*) FROM reservations`), count(t, pool, `SELECT count(*) FROM outbox`),
			count(t, pool, `SELECT count(*) FROM inbox`), count(t, pool, `SELECT reserved FROM stock WHERE sku = 'SKU-A'`),
		}
	}
	before := snapshot()
	// The last one is invalid by today's rules: still a duplicate, never dead-lettered.
	for _, p := range []order.PlaceParams{params(id, line("SKU-A", 3)), params(id, line("SKU-A", 5)), params(id, line("SKU-A", 0))} {
		status, dup, err := testenv.Place(ctx, s, consumer, p, "corr-again")
		if err != nil || !dup || status != "" {
			t.Errorf("redelivery = %q, duplicate %v, %v; want duplicate", status, dup, err)
		}
	}
	if after := snapshot(); !reflect.DeepEqual(after, before) {
		t.Errorf("redelivery changed the database: %v, before %v", after, before)
	}
}

func TestPlaceOrderInvalidWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	setStock(t, s, map[string]int64{"SKU-A": 10})
	id := "0195a0c4-6c1e-7d2a-9b7e-000000000004"
	bad := params(id, line("SKU-A", 0))
	if _, _, err := testenv.Place(ctx, s, consumer, bad, "corr"); !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("PlaceOrder of an invalid order = %v, want ErrInvalid", err)
	}
	if n := count(t, pool, `SELECT (SELECT count(*) FROM inbox) + (SELECT count(*) FROM orders) + (SELECT count(*) FROM outbox)`); n != 0 {
		t.Errorf("an invalid order left %d rows", n)
	}
}

package postgres_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// TestProjectionTakesEventsShuffledAndDuplicated delivers an order's event messages shuffled
// and each several times: the projection only ever moves forward, applies each event once,
// and ends equal to the order.
func TestProjectionTakesEventsShuffledAndDuplicated(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	setStock(t, s, map[string]int64{"A": 10})
	const id = "0195a0c4-6c1e-7d2a-9b7e-0000000a0001"
	place(t, s, params(id, line("A", 3))) // placed v1, reserved v2
	step := func(fn func(*order.Order) error) {
		if _, err := s.UpdateOrder(ctx, events.Unsolicited("c"), id, fn); err != nil {
			t.Fatal(err)
		}
	}
	step(func(o *order.Order) error { return o.Authorize("auth-1", clock) })        // v3
	step(func(o *order.Order) error { return o.Confirm(clock) })                    // v4
	step(func(o *order.Order) error { return o.Refund("cancel_requested", clock) }) // v5

	var versions []int
	rows, err := pool.Query(ctx, `SELECT version FROM event_log WHERE order_id = $1 ORDER BY version`, id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		_ = rows.Scan(&v)
		versions = append(versions, v, v, v) // every event's message three times
	}
	rows.Close()
	if len(versions) != 15 {
		t.Fatalf("%d event messages, want 5 events × 3", len(versions))
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(versions), func(i, j int) { versions[i], versions[j] = versions[j], versions[i] })

	applied, lastVersion := 0, 0
	for i, version := range versions {
		n, err := s.ProjectOrder(ctx, id, version)
		if err != nil {
			t.Fatal(err)
		}
		applied += n
		var v int
		if err := pool.QueryRow(ctx, `SELECT version FROM proj_orders WHERE id = $1`, id).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v < lastVersion {
			t.Fatalf("delivery %d moved the projection back from v%d to v%d", i, lastVersion, v)
		}
		lastVersion = v
	}
	if applied != 5 {
		t.Errorf("%d events applied, want each of the 5 once", applied)
	}
	var status string
	var history, counts, reserved, sold, revenue int64
	err = pool.QueryRow(ctx, `SELECT p.status, jsonb_array_length(p.history),
		(SELECT sum(orders) FROM proj_status_counts), (SELECT reserved FROM proj_stock WHERE sku = 'A'),
		(SELECT sold FROM proj_stock WHERE sku = 'A'), (SELECT COALESCE(sum(revenue), 0) FROM proj_sales_daily)
		FROM proj_orders p WHERE p.id = $1`, id).Scan(&status, &history, &counts, &reserved, &sold, &revenue)
	if err != nil {
		t.Fatal(err)
	}
	if status != "refunded" || history != 5 || counts != 1 || reserved != 0 || sold != 0 || revenue != 0 {
		t.Errorf("projection: %s, %d changes, %d counted, reserved %d sold %d revenue %d; want refunded, 5, 1, 0, 0, 0",
			status, history, counts, reserved, sold, revenue)
	}
	o, err := s.GetProjectedOrder(ctx, id)
	if err != nil || o.Status() != order.StatusRefunded || len(o.History()) != 5 || o.Total() != 300 {
		t.Errorf("GetProjectedOrder: %v %v", o, err)
	}
}

package postgres_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/internal/postgres"
)

// gauge reads the first series of gauge name from reg (-1 when absent).
func gauge(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// TestProjectionLagSeesOneStuckOrder: one order's events are not projected while a later
// order's are, so the projection's position (the highest seq applied) is past them. The lag
// metrics must still count them.
func TestProjectionLagSeesOneStuckOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	setStock(t, s, map[string]int64{"SKU-1": 10})
	const stuck, moved = "0195a0c4-6c1e-7d2a-9b7e-00000000f001", "0195a0c4-6c1e-7d2a-9b7e-00000000f002"
	place(t, s, params(stuck, line("SKU-1", 1)))
	place(t, s, params(moved, line("SKU-1", 1)))
	if _, err := s.ProjectOrder(ctx, moved, 0); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(postgres.NewCollector(s))
	for scrape := range 2 { // the second scrape starts from the floor the first one left
		if lag := gauge(t, reg, "orders_projection_lag_events"); lag != 2 {
			t.Errorf("scrape %d: orders_projection_lag_events = %v with one order's 2 events unprojected, want 2", scrape, lag)
		}
	}
	if age := gauge(t, reg, "orders_projection_lag_seconds"); age <= 0 {
		t.Errorf("orders_projection_lag_seconds = %v with an order unprojected, want its oldest event's age", age)
	}
	if _, err := s.ProjectOrder(ctx, stuck, 0); err != nil {
		t.Fatal(err)
	}
	if lag, age := gauge(t, reg, "orders_projection_lag_events"), gauge(t, reg, "orders_projection_lag_seconds"); lag != 0 || age != 0 {
		t.Errorf("caught up: lag %v events, %v s; want 0 and 0", lag, age)
	}
}

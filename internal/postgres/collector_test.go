package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/internal/postgres"
)

// The collector's status lists come from the domain: one in-flight age per in-flight status,
// and the count of parked orders.
func TestCollectorReportsStatusesFromTheDomain(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	setStock(t, store, map[string]int64{"SKU-1": 5})
	place(t, store, params("00000000-0000-4000-8000-0000000000c1", line("SKU-1", 1)))
	place(t, store, params("00000000-0000-4000-8000-0000000000c2", line("SKU-1", 1)))
	// Parked by hand: the collector reads the column, whatever put it there.
	if _, err := pool.Exec(context.Background(), `UPDATE orders SET status = 'needs_attention' WHERE id = '00000000-0000-4000-8000-0000000000c2'`); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(postgres.NewCollector(store))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var inFlight []string
	var attention, up float64 = -1, -1
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "orders_order_oldest_in_flight_age_seconds":
				inFlight = append(inFlight, m.GetLabel()[0].GetValue())
			case "orders_orders_needing_attention":
				attention = m.GetGauge().GetValue()
			case "orders_postgres_up":
				up = m.GetGauge().GetValue()
			}
		}
	}
	slices.Sort(inFlight)
	if want := []string{"authorized", "pending", "reserved"}; !slices.Equal(inFlight, want) {
		t.Errorf("in-flight ages for %q, want %q", inFlight, want)
	}
	if attention != 1 || up != 1 {
		t.Errorf("needing attention %v, up %v, want 1 and 1", attention, up)
	}
}

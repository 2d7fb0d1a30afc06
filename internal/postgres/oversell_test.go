package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
	"github.com/shopflow/orders/migrations"
)

// TestPlaceOrderNeverOversells races 30 orders for 3 scarce SKUs, each order taking its lines
// in a different order, over a pool wide enough for all of them to hold a connection.
func TestPlaceOrderNeverOversells(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, testenv.DatabaseURL(t)+"&pool_max_conns=32")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, migrations.FS); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.NewStore(pool, postgres.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	onHand := map[string]int64{"SKU-A": 7, "SKU-B": 5, "SKU-C": 3}
	setStock(t, s, onHand)
	skus := []string{"SKU-C", "SKU-A", "SKU-B"}

	const n = 30
	statuses := make([]order.Status, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		var lines []order.Line
		for j := range 1 + i%3 { // one to three lines, starting at a different SKU
			lines = append(lines, line(skus[(i+j)%3], int64(1+(i+j)%2)))
		}
		id := fmt.Sprintf("0195a0c4-6c1e-7d2a-9b7e-%012d", i)
		wg.Go(func() {
			<-start
			statuses[i], _, errs[i] = testenv.PlaceAt(ctx, s, consumer, params(id, lines...), "c", clock)
		})
	}
	close(start)
	wg.Wait()

	outcomes := map[order.Status]int{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("order %d: %v", i, errs[i])
		}
		outcomes[statuses[i]]++
	}
	if outcomes[order.StatusReserved] == 0 || outcomes[order.StatusRejected] == 0 || outcomes[order.StatusReserved]+outcomes[order.StatusRejected] != n {
		t.Errorf("outcomes = %v, want both reserved and rejected orders, %d in all", outcomes, n)
	}
	for sku, want := range onHand {
		st := stock(t, s, sku)
		var available, reservations, reservedByOrders int64
		if err := pool.QueryRow(ctx, `SELECT s.available,
			(SELECT coalesce(sum(quantity), 0) FROM reservations r WHERE r.sku = s.sku),
			(SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
				WHERE l.sku = s.sku AND o.status = 'reserved')
			FROM stock s WHERE s.sku = $1`, sku).Scan(&available, &reservations, &reservedByOrders); err != nil {
			t.Fatal(err)
		}
		if st.OnHand != want || available < 0 || st.OnHand != available+st.Reserved ||
			reservations != st.Reserved || reservedByOrders != st.Reserved {
			t.Errorf("%s: on_hand %d (want %d), available %d, reserved %d, reservations %d, reserved orders' lines %d",
				sku, st.OnHand, want, available, st.Reserved, reservations, reservedByOrders)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

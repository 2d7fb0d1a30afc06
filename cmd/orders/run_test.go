package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/testenv"
)

// TestConcurrentOrdersOverScarceStock posts 500 orders at once over 20 SKUs that cannot all
// be served, to one `orders run`, and checks every order is reserved or rejected at intake,
// settles, and that no unit is oversold or held twice.
func TestConcurrentOrdersOverScarceStock(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir()})
	c := newClient(in.api)
	rng := rand.New(rand.NewPCG(1, 2))
	const skus, orders = 20, 500
	for i := range skus {
		c.setStock(t, fmt.Sprintf("SKU-%02d", i), 10+rng.IntN(30))
	}
	bodies := make([]map[string]any, orders)
	for i := range bodies {
		perm := rng.Perm(skus)[:1+rng.IntN(3)]
		var lines []line
		for _, s := range perm {
			lines = append(lines, line{SKU: fmt.Sprintf("SKU-%02d", s), Quantity: 1 + rng.IntN(3), UnitPrice: 100 + rng.IntN(900)})
		}
		bodies[i] = orderBody(fmt.Sprintf("c-%d", i), lines...)
	}

	ids := postAll(t, c, bodies, 32)

	db := connectDB(t, dbURL)
	waitAllSettled(t, db, ids, 90*time.Second)
	var total, distinct, intake int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM order_history WHERE version = 2 AND status IN ('reserved', 'rejected')`).Scan(&intake); err != nil {
		t.Fatal(err)
	}
	if intake != orders {
		t.Errorf("%d orders were reserved or rejected at intake, want %d", intake, orders)
	}
	if err := db.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT id) FROM orders`).Scan(&total, &distinct); err != nil {
		t.Fatal(err)
	}
	if total != orders || distinct != orders {
		t.Errorf("orders table holds %d rows (%d distinct), want %d", total, distinct, orders)
	}
	byStatus := countByStatus(t, db)
	if byStatus["confirmed"]+byStatus["rejected"] != orders || byStatus["confirmed"] == 0 || byStatus["rejected"] == 0 {
		t.Errorf("statuses %v: want every order confirmed (tok_visa) or rejected, some of each (stock is scarce)", byStatus)
	}
	checkStockInvariants(t, db)
	t.Logf("statuses: %v", byStatus)
}

// postAll posts every body with its own Idempotency-Key from workers goroutines, retrying a
// 503 as a storefront does, and requires a 202 for each; it returns the accepted ids.
func postAll(t *testing.T, c *client, bodies []map[string]any, workers int) []string {
	t.Helper()
	ids := make([]string, len(bodies))
	errs := make(chan error, len(bodies))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id, res, err := c.placeOrderRetrying(fmt.Sprintf("key-%d", i), bodies[i])
				if err != nil || id == "" {
					errs <- fmt.Errorf("order %d: %v %d %s", i, err, res.status, res.body)
				}
				ids[i] = id
			}
		}()
	}
	for i := range bodies {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// TestOneOrderPostedFiftyTimes sends one order 50 times at once with one Idempotency-Key:
// one order, 50 identical responses; then the key with another body is refused.
func TestOneOrderPostedFiftyTimes(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir()})
	c := newClient(in.api)
	c.setStock(t, "SKU-1", 100)
	body := orderBody("c-1", line{SKU: "SKU-1", Quantity: 2, UnitPrice: 1999})

	responses := make([]response, 50)
	var wg sync.WaitGroup
	for i := range responses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, res, err := c.placeOrder("same-key", body)
			if err != nil {
				t.Error(err)
			}
			responses[i] = res
		}()
	}
	wg.Wait()
	for i, r := range responses {
		if r.status != http.StatusAccepted || string(r.body) != string(responses[0].body) || r.header.Get("Location") != responses[0].header.Get("Location") {
			t.Fatalf("response %d: %d %s (Location %q), want 202 %s", i, r.status, r.body, r.header.Get("Location"), responses[0].body)
		}
	}
	var acc struct{ ID string }
	if err := json.Unmarshal(responses[0].body, &acc); err != nil {
		t.Fatal(err)
	}
	db := connectDB(t, dbURL)
	waitSettled(t, db, []string{acc.ID}, 30*time.Second)
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d orders stored, want 1", n)
	}
	checkStockInvariants(t, db)

	changed := orderBody("c-1", line{SKU: "SKU-1", Quantity: 3, UnitPrice: 1999})
	_, res, err := c.placeOrder("same-key", changed)
	if err != nil || res.status != http.StatusUnprocessableEntity || !contains(string(res.body), "Idempotency-Key") {
		t.Errorf("same key, changed body: %v %d %s; want 422 naming Idempotency-Key", err, res.status, res.body)
	}
	got, err := c.do(http.MethodGet, "/v1/orders/"+acc.ID, nil, nil)
	if err != nil || got.status != http.StatusOK || !contains(string(got.body), `"status":"`) || contains(string(got.body), `"status":"rejected"`) {
		t.Errorf("GET order: %v %d %s", err, got.status, got.body)
	}
}

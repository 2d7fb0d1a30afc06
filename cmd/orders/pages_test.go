package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/testenv"
)

// TestPagesStayStableWhileOrdersArrive walks GET /v1/orders page by page while other orders
// are being placed: no order appears twice, and every order that existed before the walk
// appears once. Another storefront's orders never appear.
func TestPagesStayStableWhileOrdersArrive(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir()})
	a, b := newClientWithKey(in.api, keyShopA), newClientWithKey(in.api, keyShopB)
	a.setStock(t, "SKU-1", 100000)
	bodies := make([]map[string]any, 40)
	for i := range bodies {
		bodies[i] = orderBody(fmt.Sprintf("c-%d", i), line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	}
	before := postAll(t, a, bodies, 8)
	if _, _, err := b.placeOrder("other-shop", bodies[0]); err != nil {
		t.Fatal(err)
	}
	db := connectDB(t, dbURL)
	waitAllSettled(t, db, before, 30*time.Second)
	waitProjected(t, db, 30*time.Second)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // new orders keep arriving during the walk
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _, _ = a.placeOrder(fmt.Sprintf("during-%d", i), orderBody("c-new", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100}))
			time.Sleep(5 * time.Millisecond)
		}
	})
	seen := map[string]int{}
	cursor, pages := "", 0
	for {
		path := "/v1/orders?limit=7"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res, err := a.do(http.MethodGet, path, nil, nil)
		if err != nil || res.status != http.StatusOK {
			t.Fatalf("GET %s: %v %d %s", path, err, res.status, res.body)
		}
		var page struct {
			Orders     []struct{ ID string }
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(res.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Orders {
			seen[o.ID]++
		}
		pages++
		time.Sleep(20 * time.Millisecond) // let new orders land between pages
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	close(stop)
	wg.Wait()
	for id, n := range seen {
		if n > 1 {
			t.Errorf("order %s listed %d times", id, n)
		}
	}
	for _, id := range before {
		if seen[id] != 1 {
			t.Errorf("order %s, placed before the walk, listed %d times", id, seen[id])
		}
	}
	if len(seen) > len(before)+200 || pages < 6 {
		t.Errorf("%d orders over %d pages", len(seen), pages)
	}
	res, err := a.do(http.MethodGet, "/v1/orders?cursor=!!!", nil, nil)
	if err != nil || res.status != http.StatusBadRequest || !contains(string(res.body), "cursor") {
		t.Errorf("a forged cursor: %v %d %s; want 400 naming cursor", err, res.status, res.body)
	}
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// TestOpenAPIReadSide: the list and the sales report, with data in the projections, answer
// what the document says, their errors included; the list pages; the report is admin-only.
func TestOpenAPIReadSide(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	a := newApp(t)
	putStock(t, a, "SKU-1", 50)
	ctx := context.Background()
	ids := []string{"0195a0c4-6c1e-7d2a-9b7e-0000000c0001", "0195a0c4-6c1e-7d2a-9b7e-0000000c0002", "0195a0c4-6c1e-7d2a-9b7e-0000000c0003"}
	for _, id := range ids {
		placeOrder(t, a, id, order.Line{SKU: "SKU-1", Quantity: 2, UnitPrice: 150})
	}
	for _, step := range []func(*order.Order) error{
		func(o *order.Order) error { return o.Authorize("a-1", time.Now()) },
		func(o *order.Order) error { return o.Confirm(time.Now()) },
	} {
		if _, err := a.store.UpdateOrder(ctx, events.Unsolicited("c"), ids[0], step); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if _, err := a.store.ProjectOrder(ctx, id, 0); err != nil {
			t.Fatal(err)
		}
	}

	rec := s.call(t, a, "GET", "/v1/orders?limit=2", "")
	var page struct {
		Orders     []struct{ ID, Status string }
		NextCursor string `json:"next_cursor"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &page) != nil || len(page.Orders) != 2 || page.NextCursor == "" || page.Orders[0].ID != ids[2] {
		t.Fatalf("first page: %d %s", rec.Code, rec.Body)
	}
	rec = s.call(t, a, "GET", "/v1/orders?limit=2&cursor="+page.NextCursor, "")
	page.NextCursor = "" // absent on the last page: Unmarshal would keep the old value
	if json.Unmarshal(rec.Body.Bytes(), &page) != nil || len(page.Orders) != 1 || page.NextCursor != "" || page.Orders[0].ID != ids[0] {
		t.Fatalf("last page: %d %s", rec.Code, rec.Body)
	}
	rec = s.call(t, a, "GET", "/v1/orders?status=confirmed", "")
	if json.Unmarshal(rec.Body.Bytes(), &page) != nil || len(page.Orders) != 1 || page.Orders[0].Status != "confirmed" {
		t.Errorf("status filter: %s", rec.Body)
	}
	checkProblem(t, s.callBad(t, a, "GET", "/v1/orders?limit=0", ""), 400, "limit")
	checkProblem(t, s.callBad(t, a, "GET", "/v1/orders?status=lost", ""), 400, "status")
	checkProblem(t, s.call(t, a, "GET", "/v1/orders?cursor=bm9wZQ", ""), 400, "cursor") // valid by the document, refused by the API

	day := time.Now().UTC().Format(time.DateOnly)
	rec = s.call(t, a, "GET", "/v1/reports/sales?from="+day+"&to="+day, "", "Authorization", "Bearer "+adminKey)
	var report struct {
		Rows []struct {
			SKU                    string
			Orders, Units, Revenue int64
		}
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &report) != nil || len(report.Rows) != 1 ||
		report.Rows[0].Orders != 1 || report.Rows[0].Units != 2 || report.Rows[0].Revenue != 300 {
		t.Errorf("sales report: %d %s; want one confirmed order of 2 units for 300", rec.Code, rec.Body)
	}
	checkProblem(t, s.callBad(t, a, "GET", "/v1/reports/sales?from="+day, "", "Authorization", "Bearer "+adminKey), 400, "to")
	checkProblem(t, s.call(t, a, "GET", "/v1/reports/sales?from=2026-12-01&to=2026-11-01", "", "Authorization", "Bearer "+adminKey), 400, "to")
	checkProblem(t, s.call(t, a, "GET", "/v1/reports/sales?from="+day+"&to="+day, ""), http.StatusForbidden, "")

	// GET one order: from the projection, or the write side before it is projected.
	if rec := s.call(t, a, "GET", "/v1/orders/"+ids[0], ""); rec.Code != 200 || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("GET projected order: %d %s", rec.Code, rec.Body)
	}
	fresh := "0195a0c4-6c1e-7d2a-9b7e-0000000c0009"
	placeOrder(t, a, fresh, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 1})
	if rec := s.call(t, a, "GET", "/v1/orders/"+fresh, ""); rec.Code != 200 {
		t.Errorf("GET an order not projected yet: %d %s; want it from the write side", rec.Code, rec.Body)
	}
}

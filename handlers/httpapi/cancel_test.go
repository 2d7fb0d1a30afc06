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

func TestCancelOrder(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	putStock(t, a, "SKU-1", 5)
	open, settled := "0195a0c4-6c1e-7d2a-9b7e-00000000e001", "0195a0c4-6c1e-7d2a-9b7e-00000000e002"
	placeOrder(t, a, open, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	placeOrder(t, a, settled, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	_, err := a.store.UpdateOrder(context.Background(), events.Unsolicited("corr"), settled, func(o *order.Order) error {
		return o.Cancel("test", time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}

	before := a.commands(t)
	rec := a.do(t, http.MethodPost, "/v1/orders/"+open+"/cancel", "")
	var body struct{ ID, Status string }
	if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.ID != open || body.Status != "reserved" {
		t.Fatalf("cancel a reserved order: %d %s; want 202 with its id and status", rec.Code, rec.Body)
	}
	if a.commands(t) != before+1 {
		t.Errorf("the cancel command was not stored in %s", events.StreamCommands)
	}
	a.do(t, http.MethodPost, "/v1/orders/"+open+"/cancel", "")
	if a.commands(t) != before+1 {
		t.Errorf("a repeated cancel request stored a second command")
	}
	checkProblem(t, a.do(t, http.MethodPost, "/v1/orders/"+settled+"/cancel", ""), http.StatusConflict, "")
	checkProblem(t, a.do(t, http.MethodPost, "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-00000000e0ff/cancel", ""), http.StatusNotFound, "")
	checkProblem(t, a.do(t, http.MethodPost, "/v1/orders/nope/cancel", ""), http.StatusBadRequest, "id")
}

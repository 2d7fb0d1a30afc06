package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

func TestGetOrder(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	putStock(t, a, "SKU-1", 5)
	id := "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a69"
	placeOrder(t, a, id, order.Line{SKU: "SKU-1", Quantity: 2, UnitPrice: 1999})

	t.Run("existing order", func(t *testing.T) {
		rec := a.do(t, http.MethodGet, "/v1/orders/"+id, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
		var got struct {
			ID, Status, CustomerID, Currency string
			Total                            int64
			Lines                            []struct{ SKU string }
			History                          []struct {
				Version int
				Status  string
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != id || got.Status != "reserved" || got.Total != 3998 || len(got.Lines) != 1 ||
			len(got.History) != 2 || got.History[0].Status != "pending" || got.History[1].Status != "reserved" {
			t.Errorf("order = %s", rec.Body)
		}
	})
	t.Run("not a uuid", func(t *testing.T) {
		checkProblem(t, a.do(t, http.MethodGet, "/v1/orders/not-a-uuid", ""), http.StatusBadRequest, "id")
	})
	t.Run("unknown uuid", func(t *testing.T) {
		checkProblem(t, a.do(t, http.MethodGet, "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-000000000000", ""), http.StatusNotFound, "")
	})
	t.Run("another storefront's order", func(t *testing.T) {
		other := "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a71"
		placeOrderFor(t, a, "other-shop", other, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 1})
		checkProblem(t, a.do(t, http.MethodGet, "/v1/orders/"+other, ""), http.StatusNotFound, "")
	})
	t.Run("uuid in URN form", func(t *testing.T) {
		checkProblem(t, a.do(t, http.MethodGet, "/v1/orders/urn:uuid:"+id, ""), http.StatusBadRequest, "id")
	})
}

func TestInventory(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	t.Run("put then get", func(t *testing.T) {
		want := `{"sku":"SKU-1","on_hand":7,"reserved":0,"available":7}` + "\n"
		for method, rec := range map[string]*httptest.ResponseRecorder{
			"PUT": a.do(t, http.MethodPut, "/v1/inventory/SKU-1", `{"on_hand":7}`, "Content-Type", "application/json"),
			"GET": a.do(t, http.MethodGet, "/v1/inventory/SKU-1", ""),
		} {
			if rec.Code != http.StatusOK || rec.Body.String() != want {
				t.Errorf("%s = %d %s, want 200 %s", method, rec.Code, rec.Body, want)
			}
		}
	})
	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name, path, body, contentType string
			status                        int
			field                         string
		}{
			{"negative on_hand", "/v1/inventory/SKU-2", `{"on_hand":-1}`, "application/json", 422, "on_hand"},
			{"on_hand over the max", "/v1/inventory/SKU-2", `{"on_hand":1000000001}`, "application/json", 422, "on_hand"},
			{"missing on_hand", "/v1/inventory/SKU-2", `{}`, "application/json", 422, "on_hand"},
			{"on_hand not a number", "/v1/inventory/SKU-2", `{"on_hand":"7"}`, "application/json", 400, "on_hand"},
			{"unknown field", "/v1/inventory/SKU-2", `{"on_hand":1,"reserved":0}`, "application/json", 400, "reserved"},
			{"bad sku characters", "/v1/inventory/bad%20sku", `{"on_hand":1}`, "application/json", 422, "sku"},
			{"wrong content type", "/v1/inventory/SKU-2", `{"on_hand":1}`, "text/plain", 415, "Content-Type"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkProblem(t, a.do(t, http.MethodPut, tc.path, tc.body, "Content-Type", tc.contentType), tc.status, tc.field)
			})
		}
		checkProblem(t, a.do(t, http.MethodGet, "/v1/inventory/SKU-2", ""), http.StatusNotFound, "")
	})
	t.Run("unknown sku", func(t *testing.T) {
		checkProblem(t, a.do(t, http.MethodGet, "/v1/inventory/NOPE", ""), http.StatusNotFound, "")
	})
	t.Run("below reserved", func(t *testing.T) {
		putStock(t, a, "SKU-3", 10)
		placeOrder(t, a, "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a70", order.Line{SKU: "SKU-3", Quantity: 4, UnitPrice: 1})
		checkProblem(t, a.do(t, http.MethodPut, "/v1/inventory/SKU-3", `{"on_hand":3}`, "Content-Type", "application/json"),
			http.StatusConflict, "on_hand")
		rec := a.do(t, http.MethodGet, "/v1/inventory/SKU-3", "")
		if want := `{"sku":"SKU-3","on_hand":10,"reserved":4,"available":6}` + "\n"; rec.Body.String() != want {
			t.Errorf("after refused PUT: %s, want %s", rec.Body, want)
		}
	})
}

func putStock(t testing.TB, a *app, sku string, onHand int) {
	t.Helper()
	rec := a.do(t, http.MethodPut, "/v1/inventory/"+sku, `{"on_hand":`+strconv.Itoa(onHand)+`}`, "Content-Type", "application/json")
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT %s = %d %s", sku, rec.Code, rec.Body)
	}
}

// placeOrder applies a PlaceOrder command of the default storefront as the inventory worker does.
func placeOrder(t testing.TB, a *app, id string, lines ...order.Line) {
	t.Helper()
	placeOrderFor(t, a, "default", id, lines...)
}

func placeOrderFor(t testing.TB, a *app, storefront, id string, lines ...order.Line) {
	t.Helper()
	p := order.PlaceParams{ID: id, Storefront: storefront, CustomerID: "c-1", Currency: "EUR",
		Lines: lines, PaymentToken: "tok_visa", AcceptedAt: time.Now()}
	status, _, err := testenv.Place(context.Background(), a.store, events.ConsumerInventoryPlaceOrder, p, "corr")
	if err != nil || status != order.StatusReserved {
		t.Fatalf("PlaceOrder = %s, %v; want reserved", status, err)
	}
}

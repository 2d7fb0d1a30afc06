package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/internal/postgres"
)

// otherShopKey is a storefront key of another tenant than storefrontKey's.
const otherShopKey = "ordk_test_storefront_other_shop_0000000000000000"

type pendingJSON struct {
	ID, Status, Currency string
	CustomerID           string `json:"customer_id"`
	Total                int64
	Lines                []struct {
		SKU      string
		Quantity int64
	}
	History []struct {
		Version int
		Status  string
	}
}

// checkPending asserts rec is the order id answered as pending, as validOrder describes it.
func checkPending(t testing.TB, rec *httptest.ResponseRecorder, id string) {
	t.Helper()
	body := rec.Body.Bytes()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET a just-accepted order: status = %d, want 200 pending; body %s", rec.Code, body)
	}
	var got pendingJSON
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != id || got.Status != "pending" || got.CustomerID != "c-42" || got.Currency != "EUR" ||
		got.Total != 2*1999+500 || len(got.Lines) != 2 || len(got.History) != 1 || got.History[0].Status != "pending" {
		t.Errorf("order = %s, want %s pending with validOrder's lines", body, id)
	}
}

// TestAcceptedOrderIsPendingBeforeIntake: no inventory worker runs, so the order is in
// JetStream only. Every id answered 202 is readable by its storefront, as pending, and can be
// cancelled; another storefront still gets the 404 an unknown id gets.
func TestAcceptedOrderIsPendingBeforeIntake(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	s := openSpec(t)
	createKey(t, a.store, otherShopKey, access.RoleStorefront, "other-shop")
	rec := a.postOrder(t, "pending-1", validOrder)
	id := checkAccepted(t, rec.Code, rec.Header(), rec.Body.Bytes()).ID

	got := s.call(t, a, http.MethodGet, "/v1/orders/"+id, "")
	checkPending(t, got, id)
	got = s.call(t, a, http.MethodGet, "/v1/orders/"+id, "", "Authorization", "Bearer "+adminKey)
	checkPending(t, got, id)
	checkProblem(t, s.call(t, a, http.MethodGet, "/v1/orders/"+id, "", "Authorization", "Bearer "+otherShopKey), http.StatusNotFound, "")
	checkProblem(t, s.call(t, a, http.MethodPost, "/v1/orders/"+id+"/cancel", "", "Authorization", "Bearer "+otherShopKey), http.StatusNotFound, "")

	before := a.commands(t)
	c := s.call(t, a, http.MethodPost, "/v1/orders/"+id+"/cancel", "")
	var body struct{ ID, Status string }
	if c.Code != http.StatusAccepted || json.Unmarshal(c.Body.Bytes(), &body) != nil || body.ID != id || body.Status != "pending" {
		t.Fatalf("cancel a just-accepted order: %d %s; want 202 with its id and status pending", c.Code, c.Body)
	}
	if a.commands(t) != before+1 {
		t.Errorf("the cancel command was not stored in %s", events.StreamCommands)
	}
}

// TestAcceptedOrderDuringDatabaseOutageIsUnavailableNeverStale: the API's reads go to a
// PostgreSQL that cannot be reached (keys still authenticate: their store is up). The ingest's
// copy cannot tell whether the intake has settled the order meanwhile, so a read answers 503
// with Retry-After (never a stale pending, never a 404), and ingest goes on.
func TestAcceptedOrderDuringDatabaseOutageIsUnavailableNeverStale(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	down, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	unreachable, err := postgres.NewStore(down, postgres.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d := deps(t, a.store, a.js)
	d.Orders, d.Stock = unreachable, unreachable // keys still authenticate: their store is up
	api, err := httpapi.New(d)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	a.handler = mux

	rec := a.postOrder(t, "outage-1", validOrder)
	id := checkAccepted(t, rec.Code, rec.Header(), rec.Body.Bytes()).ID
	got := a.do(t, http.MethodGet, "/v1/orders/"+id, "")
	checkProblem(t, got, http.StatusServiceUnavailable, "")
	if got.Header().Get("Retry-After") == "" {
		t.Error("a read during a database outage has no Retry-After")
	}
	checkProblem(t, a.do(t, http.MethodGet, "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-000000000000", ""), http.StatusServiceUnavailable, "")
}

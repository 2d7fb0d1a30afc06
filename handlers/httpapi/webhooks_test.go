package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/webhook"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

type endpointAnswer struct {
	ID, Storefront, URL, Secret string
	Events                      []string
}

func createWebhook(t *testing.T, s *spec, a *app, body string, headers ...string) endpointAnswer {
	t.Helper()
	rec := s.call(t, a, http.MethodPost, "/v1/webhooks", body, append([]string{"Content-Type", jsonCT}, headers...)...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /v1/webhooks = %d %s", rec.Code, rec.Body)
	}
	var e endpointAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// A storefront registers, lists, rotates and removes its own endpoints; another storefront
// sees none of them (404, as for one that does not exist); an admin sees and acts on all.
func TestWebhookEndpointsPerStorefront(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	a := newApp(t)
	createKey(t, a.store, otherShopKey, access.RoleStorefront, "other-shop")
	other := []string{"Authorization", "Bearer " + otherShopKey}
	admin := []string{"Authorization", "Bearer " + adminKey}

	e := createWebhook(t, s, a, `{"url":"http://127.0.0.1:9/hooks","events":["order.confirmed","order.cancelled","order.confirmed"]}`)
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`).MatchString(e.Secret) || e.Storefront != "default" ||
		strings.Join(e.Events, ",") != "order.cancelled,order.confirmed" {
		t.Errorf("created %+v", e)
	}
	theirs := createWebhook(t, s, a, `{"url":"http://127.0.0.1:9/theirs"}`, other...)

	list := s.call(t, a, http.MethodGet, "/v1/webhooks", "")
	if list.Code != http.StatusOK || !strings.Contains(list.Body.String(), e.ID) || strings.Contains(list.Body.String(), theirs.ID) ||
		strings.Contains(list.Body.String(), "whsec_") {
		t.Errorf("GET /v1/webhooks = %d %s", list.Code, list.Body)
	}
	if all := s.call(t, a, http.MethodGet, "/v1/webhooks", "", admin...); !strings.Contains(all.Body.String(), e.ID) || !strings.Contains(all.Body.String(), theirs.ID) {
		t.Errorf("admin GET /v1/webhooks = %s", all.Body)
	}

	for _, rt := range []struct{ method, path string }{
		{http.MethodDelete, "/v1/webhooks/" + e.ID}, {http.MethodPost, "/v1/webhooks/" + e.ID + "/rotate"},
		{http.MethodGet, "/v1/webhooks/" + e.ID + "/deliveries"}, {http.MethodPost, "/v1/webhooks/" + e.ID + "/enable"},
		{http.MethodPost, "/v1/webhooks/" + e.ID + "/deliveries/msg_00000000000000000000000000000000/redeliver"},
	} {
		if rec := s.call(t, a, rt.method, rt.path, "", other...); rec.Code != http.StatusNotFound {
			t.Errorf("another storefront's %s %s = %d, want 404", rt.method, rt.path, rec.Code)
		}
	}

	if rec := s.call(t, a, http.MethodPost, "/v1/webhooks/"+e.ID+"/enable", ""); rec.Code != http.StatusOK {
		t.Errorf("enable = %d %s", rec.Code, rec.Body)
	}
	rot := s.call(t, a, http.MethodPost, "/v1/webhooks/"+e.ID+"/rotate", "")
	var rotated endpointAnswer
	_ = json.Unmarshal(rot.Body.Bytes(), &rotated)
	if rot.Code != http.StatusOK || rotated.Secret == "" || rotated.Secret == e.Secret {
		t.Errorf("rotate = %d %s", rot.Code, rot.Body)
	}
	if rec := s.call(t, a, http.MethodDelete, "/v1/webhooks/"+theirs.ID, "", admin...); rec.Code != http.StatusNoContent {
		t.Errorf("admin DELETE = %d %s", rec.Code, rec.Body)
	}
	if rec := s.call(t, a, http.MethodDelete, "/v1/webhooks/"+theirs.ID, "", admin...); rec.Code != http.StatusNotFound {
		t.Errorf("DELETE again = %d, want 404", rec.Code)
	}
	forOther := createWebhook(t, s, a, `{"url":"http://127.0.0.1:9/x","storefront":"other-shop"}`, admin...)
	if forOther.Storefront != "other-shop" {
		t.Errorf("admin registered for %q", forOther.Storefront)
	}
	for _, body := range []string{
		`{"url":"http://127.0.0.1:9/x"}`,                            // an admin names the storefront
		`{"url":"http://127.0.0.1:9/x","storefront":"Not A Shop!"}`, // a valid one
	} {
		if rec := s.callBad(t, a, http.MethodPost, "/v1/webhooks", body, append([]string{"Content-Type", jsonCT}, admin...)...); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("admin POST %s = %d %s, want 422", body, rec.Code, rec.Body)
		}
	}
	bad := s.callBad(t, a, http.MethodPost, "/v1/webhooks", `{"url":"http://127.0.0.1:9/x","events":["order.shipped"]}`, "Content-Type", jsonCT)
	if bad.Code != http.StatusUnprocessableEntity || !strings.Contains(bad.Body.String(), `"field":"events"`) {
		t.Errorf("unknown event = %d %s", bad.Code, bad.Body)
	}
}

// Without the development settings, only https URLs to public addresses are registered.
func TestWebhookURLsArePublicAndHTTPS(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	store := newStore(t)
	js := testenv.Connect(t, testenv.JetStream(t))
	createKey(t, store, storefrontKey, access.RoleStorefront, "default")
	d := deps(t, store, js)
	resolved := map[string][]netip.Addr{
		"rebound.example": {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.7")},
		"shop.example":    {netip.MustParseAddr("93.184.216.34")},
	}
	d.Webhooks = httpapi.WebhookDeps{Store: store, Resolve: func(_ context.Context, host string) ([]netip.Addr, error) {
		return resolved[host], nil
	}}
	a := appFrom(t, d, store)
	for _, url := range []string{"http://shop.example/h", "https://127.0.0.1/h", "https://169.254.169.254/latest",
		"https://[fd00:ec2::254]/", "https://[::1]:8443/", "https://rebound.example/h", "https://nowhere.example/h"} {
		rec := s.call(t, a, http.MethodPost, "/v1/webhooks", `{"url":"`+url+`"}`, "Content-Type", jsonCT)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"field":"url"`) {
			t.Errorf("POST %s = %d %s, want 422 naming url", url, rec.Code, rec.Body)
		}
	}
	if e := createWebhook(t, s, a, `{"url":"https://shop.example/h"}`); e.URL != "https://shop.example/h" {
		t.Errorf("registered %q", e.URL)
	}
}

// The delivery log lists a delivery with its status; its data is the order exactly as GET
// /v1/orders/{id} answers it; redelivery makes it due again.
func TestWebhookDeliveryLog(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	a := newApp(t)
	putStock(t, a, "SKU-1", 10)
	e := createWebhook(t, s, a, `{"url":"http://127.0.0.1:9/hooks"}`)
	id := "0195a0c4-6c1e-7d2a-9b7e-0000000b0001"
	placeOrder(t, a, id, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	var payload []byte
	_, err := a.store.RecordWebhooks(context.Background(), events.Unsolicited("test"), id,
		func(o *order.Order, after int, subs []webhook.Subscription) ([]webhook.Planned, error) {
			p, err := webhook.Plan(o, after, subs, httpapi.OrderDocument)
			if len(p) == 1 {
				payload = p[0].Payload
			}
			return p, err
		})
	if err != nil || payload == nil {
		t.Fatalf("record: %v, payload %s", err, payload)
	}
	var body struct {
		Type string
		Data json.RawMessage
	}
	if err := json.Unmarshal(payload, &body); err != nil {
		t.Fatal(err)
	}
	get := s.call(t, a, http.MethodGet, "/v1/orders/"+id, "")
	if body.Type != "order.reserved" || !bytes.Equal(append(body.Data, '\n'), get.Body.Bytes()) {
		t.Errorf("delivery data\n%s\nGET answers\n%s", body.Data, get.Body)
	}

	log := s.call(t, a, http.MethodGet, "/v1/webhooks/"+e.ID+"/deliveries?status=pending", "")
	var page struct {
		Deliveries []struct{ ID, OrderID, Type, Status string }
	}
	if err := json.Unmarshal(log.Body.Bytes(), &page); err != nil || len(page.Deliveries) != 1 || page.Deliveries[0].Type != "order.reserved" {
		t.Fatalf("deliveries = %d %s", log.Code, log.Body)
	}
	if none := s.call(t, a, http.MethodGet, "/v1/webhooks/"+e.ID+"/deliveries?status=delivered", ""); strings.Contains(none.Body.String(), "msg_") {
		t.Errorf("delivered deliveries = %s", none.Body)
	}
	if rec := s.callBad(t, a, http.MethodGet, "/v1/webhooks/"+e.ID+"/deliveries?status=lost", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("status=lost = %d", rec.Code)
	}
	if rec := s.call(t, a, http.MethodPost, "/v1/webhooks/"+e.ID+"/deliveries/"+page.Deliveries[0].ID+"/redeliver", ""); rec.Code != http.StatusAccepted {
		t.Errorf("redeliver = %d %s", rec.Code, rec.Body)
	}
}

// appFrom builds the API over d, as newAppOn does over the default dependencies.
func appFrom(t *testing.T, d httpapi.Deps, store *postgres.Store) *app {
	t.Helper()
	api, err := httpapi.New(d)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	return &app{api: api, handler: mux, store: store}
}

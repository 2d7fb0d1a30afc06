package stripe_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/gatewaytest"
	"github.com/shopflow/orders/internal/gateway/stripe"
)

// TestRequestsCarryTheSagaKeyAndTerms records what the gateway sends. stripe-mock checks that
// a request is valid, not that it is the one meant (a PaymentIntent without manual capture is
// valid too, and would take the money at once), so the parameters that carry the saga's
// guarantees are checked here, on a server that records requests and answers like Stripe.
func TestRequestsCarryTheSagaKeyAndTerms(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]*http.Request{}
	forms := map[string]url.Values{}
	record := func(answer http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil {
				t.Errorf("%s: %v", r.URL.Path, err)
			}
			mu.Lock()
			seen[r.Pattern], forms[r.Pattern] = r, r.Form
			mu.Unlock()
			answer(w, r)
		}
	}
	mux := http.NewServeMux()
	for _, pattern := range []string{"POST /v1/payment_intents", "POST /v1/payment_intents/{id}/capture",
		"POST /v1/payment_intents/{id}/cancel"} {
		mux.HandleFunc(pattern, record(intent("requires_capture")))
	}
	mux.HandleFunc("GET /v1/payment_intents/search", record(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"object": "search_result", "has_more": false, "data": []any{
			map[string]any{"id": "pi_1", "object": "payment_intent", "status": "requires_capture", "amount": 1999, "currency": "eur"},
		}})
	}))
	mux.HandleFunc("POST /v1/payment_methods", record(paymentMethod))
	mux.HandleFunc("POST /v1/refunds", record(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": "re_1", "object": "refund", "status": "succeeded"})
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	gw := newGateway(t, stripe.Config{APIKey: testKey, BaseURL: srv.URL})

	orderID := gatewaytest.Order(t)
	req := gatewaytest.Request(orderID, secretToken)
	auth, err := gw.Authorize(t.Context(), req)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	for _, op := range []payment.Operation{payment.OpCapture, payment.OpVoid, payment.OpRefund} {
		gatewaytest.Settle(t, gw, orderID, op, auth)
	}
	if _, err := gw.Find(t.Context(), req.IdempotencyKey, orderID); err != nil {
		t.Fatalf("find: %v", err)
	}

	key := func(op payment.Operation) string { return payment.IdempotencyKey(orderID, op) }
	want := map[string]map[string]string{
		"POST /v1/payment_methods": {"Idempotency-Key": req.IdempotencyKey + "-payment-method",
			"type": "card", "card[token]": secretToken},
		"POST /v1/payment_intents": {"Idempotency-Key": req.IdempotencyKey,
			"amount": "1999", "currency": "eur", "payment_method": "pm_1", "payment_method_types[0]": "card",
			"capture_method": "manual", "confirm": "true", "error_on_requires_action": "true",
			"metadata[order_id]": orderID, "metadata[idempotency_key]": req.IdempotencyKey},
		"POST /v1/payment_intents/{id}/capture": {"Idempotency-Key": key(payment.OpCapture), "amount_to_capture": "1999"},
		"POST /v1/payment_intents/{id}/cancel":  {"Idempotency-Key": key(payment.OpVoid)},
		"POST /v1/refunds": {"Idempotency-Key": key(payment.OpRefund),
			"payment_intent": auth.ID, "amount": "1999"},
		"GET /v1/payment_intents/search": {
			"query": "metadata['idempotency_key']:'" + req.IdempotencyKey + "' AND metadata['order_id']:'" + orderID + "'"},
	}
	for pattern, fields := range want {
		r := seen[pattern]
		if r == nil {
			t.Errorf("%s: never requested", pattern)
			continue
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
			t.Errorf("%s: Authorization %q", pattern, got)
		}
		for name, value := range fields {
			got := forms[pattern].Get(name)
			if name == "Idempotency-Key" {
				got = r.Header.Get(name)
			}
			if got != value {
				t.Errorf("%s: %s = %q, want %q", pattern, name, got, value)
			}
		}
	}
}

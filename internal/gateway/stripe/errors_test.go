package stripe_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/gatewaytest"
	"github.com/shopflow/orders/internal/gateway/stripe"
)

// secretToken stands for a card token, which must never reach an error message.
const secretToken = "tok_1SecretCardToken42"

// TestErrorMapping puts Stripe's failures in the port's terms. The server here is a fake of
// Stripe's answers only (error objects, a PaymentIntent needing authentication, a reply that
// never comes): stripe-mock answers every valid request with a fixture and cannot produce
// them. That the requests themselves are valid Stripe requests is TestContract's to show.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		call   string           // authorize, capture or find
		pm     http.HandlerFunc // the PaymentMethod answer of an authorize; nil approves
		answer http.HandlerFunc // the answer to the call's main request
		want   error            // nil: a permanent error, none of the port's sentinels
		reason string
	}{
		{"decline with issuer code", "authorize", nil, stripeError(402, "card_error", "card_declined", "insufficient_funds"), payment.ErrDeclined, "insufficient_funds"},
		{"decline without issuer code", "authorize", nil, stripeError(402, "card_error", "expired_card", ""), payment.ErrDeclined, "expired_card"},
		{"authentication required", "authorize", nil, intent("requires_action"), payment.ErrDeclined, "authentication_required"},
		{"unknown token", "authorize", stripeError(400, "invalid_request_error", "resource_missing", ""), nil, payment.ErrDeclined, "resource_missing"},
		{"capture of a cancelled intent", "capture", nil, stripeError(400, "invalid_request_error", "payment_intent_unexpected_state", ""), payment.ErrDeclined, "payment_intent_unexpected_state"},
		{"amount too small", "authorize", nil, stripeParamError(400, "amount_too_small", "amount"), payment.ErrDeclined, "amount_too_small"},
		{"amount too large", "authorize", nil, stripeParamError(400, "amount_too_large", "amount"), payment.ErrDeclined, "amount_too_large"},
		{"amount not accepted", "authorize", nil, stripeParamError(400, "parameter_invalid_integer", "amount"), payment.ErrDeclined, "amount_invalid"},
		{"capture amount not accepted", "capture", nil, stripeParamError(400, "parameter_invalid_integer", "amount_to_capture"), payment.ErrDeclined, "amount_invalid"},
		{"another parameter not accepted", "authorize", nil, stripeParamError(400, "parameter_invalid_integer", "application_fee_amount"), nil, ""},
		{"server error", "capture", nil, stripeError(500, "api_error", "", ""), payment.ErrTransient, ""},
		{"rate limited", "capture", nil, stripeError(429, "invalid_request_error", "rate_limit", ""), payment.ErrTransient, ""},
		{"same key in flight", "capture", nil, stripeError(409, "idempotency_error", "idempotency_key_in_use", ""), payment.ErrTransient, ""},
		{"payment method times out", "authorize", sleep, nil, payment.ErrTransient, ""},
		{"authorize times out", "authorize", nil, sleep, payment.ErrUnknownOutcome, ""},
		{"capture times out", "capture", nil, sleep, payment.ErrUnknownOutcome, ""},
		{"find times out", "find", nil, sleep, payment.ErrTransient, ""},
		{"proxy error page", "capture", nil, html(502), payment.ErrUnknownOutcome, ""},
		{"bad key", "capture", nil, stripeError(401, "invalid_request_error", "", ""), nil, ""},
		{"key reused with other parameters", "capture", nil, stripeError(400, "idempotency_error", "", ""), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			answer := orDefault(c.answer, intent("requires_capture"))
			mux := http.NewServeMux()
			mux.HandleFunc("POST /v1/payment_methods", orDefault(c.pm, paymentMethod))
			mux.HandleFunc("POST /v1/payment_intents", answer)
			mux.HandleFunc("POST /v1/payment_intents/{id}/capture", answer)
			mux.HandleFunc("GET /v1/payment_intents/search", answer)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			gw := newGateway(t, stripe.Config{APIKey: testKey, BaseURL: srv.URL, Timeout: 300 * time.Millisecond})
			err := call(t.Context(), gw, c.call)
			checkMapped(t, err, c.want, c.reason)
		})
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens at its address any more
	gw := newGateway(t, stripe.Config{APIKey: testKey, BaseURL: srv.URL, Timeout: 5 * time.Second})
	checkMapped(t, call(t.Context(), gw, "capture"), payment.ErrTransient, "")
}

func TestCancelledContextSendsNothing(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request sent with a cancelled context: %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	gw := newGateway(t, stripe.Config{APIKey: testKey, BaseURL: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	checkMapped(t, call(ctx, gw, "capture"), payment.ErrTransient, "")
}

// checkMapped wants err to be the port's sentinel want (with reason, for a decline), or, for
// a nil want, none of them; and never to carry the key or the token.
func checkMapped(t *testing.T, err, want error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	sentinels := []error{payment.ErrDeclined, payment.ErrTransient, payment.ErrUnknownOutcome, payment.ErrNotFound}
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(err, %v) = %t, want %t; err: %v", s, got, s == want, err)
		}
	}
	var decline *payment.DeclineError
	if want == payment.ErrDeclined && (!errors.As(err, &decline) || decline.Reason != reason) {
		t.Errorf("decline %v, want reason %q", err, reason)
	}
	for _, secret := range []string{secretPart(testKey), secretToken} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error carries a secret: %v", err)
		}
	}
}

func call(ctx context.Context, gw *stripe.Gateway, name string) error {
	orderID := "order-1"
	auth := payment.Authorization{ID: "pi_1", Amount: gatewaytest.Amount, Currency: gatewaytest.Currency}
	switch name {
	case "authorize":
		_, err := gw.Authorize(ctx, gatewaytest.Request(orderID, secretToken))
		return err
	case "capture":
		return gw.Capture(ctx, payment.IdempotencyKey(orderID, payment.OpCapture), auth)
	case "find":
		_, err := gw.Find(ctx, payment.IdempotencyKey(orderID, payment.OpAuthorize), orderID)
		return err
	}
	return fmt.Errorf("no call %q", name)
}

// stripeParamError answers an invalid_request_error about one parameter, as Stripe does for
// an amount it will not take (amount_too_small, or parameter_invalid_integer for 0).
func stripeParamError(status int, code, param string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		body := map[string]any{"error": map[string]string{
			"type": "invalid_request_error", "code": code, "param": param, "message": "This value is not accepted.",
		}}
		writeJSON(w, status, body)
	}
}

// stripeError answers a Stripe error object; its message quotes the token, as Stripe's
// "No such token" does, to show that messages are not passed on.
func stripeError(status int, typ, code, declineCode string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		body := map[string]any{"error": map[string]string{
			"type": typ, "code": code, "decline_code": declineCode,
			"message": "No such token: '" + secretToken + "'",
		}}
		w.Header().Set("Request-Id", "req_fake")
		writeJSON(w, status, body)
	}
}

func intent(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": "pi_1", "object": "payment_intent", "status": status, "amount": gatewaytest.Amount, "currency": "eur",
		})
	}
}

func paymentMethod(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"id": "pm_1", "object": "payment_method", "type": "card"})
}

// sleep answers only after the client has given up. It reads the body first: only then does
// the server watch the connection, and see the client hang up.
func sleep(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func html(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<html><body>Bad Gateway</body></html>"))
	}
}

func orDefault(h, def http.HandlerFunc) http.HandlerFunc {
	if h != nil {
		return h
	}
	return def
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the client sees a broken body if this fails
}

package stripe_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/gatewaytest"
	"github.com/shopflow/orders/internal/gateway/stripe"
	"github.com/shopflow/orders/internal/gateway/stripe/stripefake"
)

// The tests here run against stripefake, whose search lags by an hour unless a test catches
// it up: Stripe's own lag is under a minute normally and up to an hour during incidents.
const searchLag = time.Hour

// lagging is a gateway on a fresh fake Stripe whose search lags.
func lagging(t *testing.T) (*stripefake.Server, *stripe.Gateway) {
	t.Helper()
	fake := stripefake.New(t, searchLag)
	return fake, newGateway(t, stripe.Config{APIKey: testKey, BaseURL: fake.URL(), Timeout: 5 * time.Second})
}

// lostAuthorize authorizes req while the fake loses the answer, and wants the outcome
// unknown to the gateway.
func lostAuthorize(t *testing.T, fake *stripefake.Server, gw *stripe.Gateway, req payment.AuthorizeRequest) {
	t.Helper()
	fake.LoseConfirms(true)
	defer fake.LoseConfirms(false)
	if _, err := gw.Authorize(t.Context(), req); !errors.Is(err, payment.ErrUnknownOutcome) {
		t.Fatalf("authorize with its answer lost: %v, want payment.ErrUnknownOutcome", err)
	}
}

// TestAbandonWhileSearchLags is finding 1 of issue 11: an authorize whose answer was lost but
// which Stripe carried out, then a cancel while Stripe's search has not indexed the
// PaymentIntent yet. The cancel's lookup must return the hold, so that it is voided.
func TestAbandonWhileSearchLags(t *testing.T) {
	t.Parallel()
	fake, gw := lagging(t)
	req := gatewaytest.Request(gatewaytest.Order(t), "tok_visa")
	lostAuthorize(t, fake, gw, req)
	holds := fake.Holds(req.OrderID)
	if len(holds) != 1 {
		t.Fatalf("stripe holds %v after the lost authorize, want one hold", holds)
	}

	auth, err := gw.Abandon(t.Context(), req)
	if errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("lookup answered %v while %s holds funds", err, holds[0].ID)
	}
	if err != nil || auth.ID != holds[0].ID || auth.Amount != gatewaytest.Amount || auth.Currency != gatewaytest.Currency {
		t.Fatalf("abandon: %+v, %v; want %s", auth, err, holds[0].ID)
	}
	gatewaytest.Settle(t, gw, req.OrderID, payment.OpVoid, auth)
	if holds := fake.Holds(""); len(holds) != 0 {
		t.Fatalf("holds left after the void: %v", holds)
	}
}

// TestAbandonUnusedKey: an order cancelled before its authorize reached Stripe. Nothing is
// held, and nothing can be any more: an authorize that arrives late holds nothing.
func TestAbandonUnusedKey(t *testing.T) {
	t.Parallel()
	fake, gw := lagging(t)
	req := gatewaytest.Request(gatewaytest.Order(t), "tok_visa")
	for range 2 { // the second time as a redelivered cancel would: same answer
		if _, err := gw.Abandon(t.Context(), req); !errors.Is(err, payment.ErrNotFound) {
			t.Fatalf("abandon of an unused key: %v, want payment.ErrNotFound", err)
		}
	}
	if _, err := gw.Authorize(t.Context(), req); err == nil {
		t.Fatal("an authorize after abandon succeeded, want it refused")
	}
	intents := fake.Intents(req.OrderID)
	if len(intents) != 1 || intents[0].Status != stripefake.StatusCanceled {
		t.Fatalf("intents of the order: %+v, want the probe alone, cancelled", intents)
	}
}

// TestAbandonDeclinedAuthorize: the first authorize was declined, its answer lost: no hold.
func TestAbandonDeclinedAuthorize(t *testing.T) {
	t.Parallel()
	fake, gw := lagging(t)
	req := gatewaytest.Request(gatewaytest.Order(t), stripefake.TokenDeclined)
	lostAuthorize(t, fake, gw, req)
	if _, err := gw.Abandon(t.Context(), req); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("abandon after a declined authorize: %v, want payment.ErrNotFound", err)
	}
	if holds := fake.Holds(""); len(holds) != 0 {
		t.Fatalf("holds: %v, want none", holds)
	}
}

// TestAbandonFoundBySearch: once the index has the PaymentIntent, the search answers and no
// probe is made, which also covers a key Stripe forgot after 24 hours.
func TestAbandonFoundBySearch(t *testing.T) {
	t.Parallel()
	fake, gw := lagging(t)
	req := gatewaytest.Request(gatewaytest.Order(t), "tok_visa")
	first, err := gw.Authorize(t.Context(), req)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	fake.CatchUp()
	if auth, err := gw.Abandon(t.Context(), req); err != nil || auth != first {
		t.Fatalf("abandon: %+v, %v; want %+v", auth, err, first)
	}
	if n := len(fake.Intents(req.OrderID)); n != 1 {
		t.Fatalf("%d PaymentIntents for the order, want 1 (no probe)", n)
	}
}

// TestAbandonNeverGuesses: when Stripe does not answer the probe, Abandon says it cannot tell,
// never "no hold".
func TestAbandonNeverGuesses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		answer http.HandlerFunc
		want   error
	}{
		{"probe fails", stripeError(500, "api_error", "", ""), payment.ErrTransient},
		{"probe times out", sleep, payment.ErrUnknownOutcome},
		{"probe refused otherwise", stripeError(400, "invalid_request_error", "resource_missing", ""), payment.ErrUnknownOutcome},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/payment_intents/search", func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, http.StatusOK, map[string]any{"object": "search_result", "data": []any{}, "has_more": false})
			})
			mux.HandleFunc("POST /v1/payment_intents", c.answer)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			gw := newGateway(t, stripe.Config{APIKey: testKey, BaseURL: srv.URL, Timeout: 300 * time.Millisecond})
			_, err := gw.Abandon(t.Context(), gatewaytest.Request(gatewaytest.Order(t), "tok_visa"))
			if errors.Is(err, payment.ErrNotFound) || !errors.Is(err, c.want) {
				t.Fatalf("abandon: %v, want %v and never payment.ErrNotFound", err, c.want)
			}
		})
	}
}

// TestAbandonOfAKeyUsedOtherwiseIsAnOperatorsCall: the authorize key's first request had other
// parameters (here another amount), and the search lags: no retry can tell whether a hold
// stands, so Abandon answers an error that is neither "none" nor one to retry as an outage;
// the saga then parks the order for an operator.
func TestAbandonOfAKeyUsedOtherwiseIsAnOperatorsCall(t *testing.T) {
	t.Parallel()
	_, gw := lagging(t)
	req := gatewaytest.Request(gatewaytest.Order(t), "tok_visa")
	other := req
	other.Amount = 2 * req.Amount
	if _, err := gw.Authorize(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	_, err := gw.Abandon(t.Context(), req)
	if err == nil || errors.Is(err, payment.ErrNotFound) || errors.Is(err, payment.ErrUnknownOutcome) || errors.Is(err, payment.ErrTransient) {
		t.Fatalf("abandon of a key used with other parameters: %v; want an error of no retryable kind", err)
	}
}

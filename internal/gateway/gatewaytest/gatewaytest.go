// Package gatewaytest is the contract test suite every payment.Gateway passes: the simulated
// gateway and the Stripe gateway run the same cases, each as far as what it talks to can show.
package gatewaytest

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/shopflow/orders/domain/payment"
)

// Capabilities says what an implementation under test can show. stripe-mock, for one,
// validates requests and answers fixtures: it never declines and remembers nothing.
type Capabilities struct {
	// Declines: tok_chargeDeclined is declined, and so is an amount over TooLarge.
	Declines bool
	// Stateful: the gateway remembers its operations, so a replayed key gets the first
	// result, operations on one authorization follow each other's rules (no capture after a
	// void), tok_chargeDeclinedProcessingError recovers, and Find and Abandon know what was
	// made.
	Stateful bool
}

// Amount and Currency are what the suite authorizes.
const (
	Amount   int64 = 1999
	Currency       = "EUR"
)

// TooLarge is an amount over every gateway's maximum: Stripe takes at most eight digits.
const TooLarge int64 = 1_000_000_000

// Run runs the contract on gateways made by newGateway, one per case; the cases run in
// parallel. A case the capabilities rule out is not run at all (rather than skipped), so a
// run's output lists only what was shown.
func Run(t *testing.T, newGateway func(t *testing.T) payment.Gateway, caps Capabilities) {
	t.Helper()
	cases := []struct {
		name string
		need bool
		run  func(t *testing.T, gw payment.Gateway, caps Capabilities)
	}{
		{"authorize approves", true, authorizeApproves},
		{"authorize key replayed", true, authorizeReplayed},
		{"capture after authorize", true, captureAfterAuthorize},
		{"capture key replayed", true, captureReplayed},
		{"void after authorize", true, voidAfterAuthorize},
		{"refund after capture", true, refundAfterCapture},
		{"find after authorize", true, findAfterAuthorize},
		{"declined card", caps.Declines, declinedCard},
		{"amount 0 is declined", true, amountZeroDeclined},
		{"amount over the maximum is declined", caps.Declines, amountTooLargeDeclined},
		{"processing error recovers with the same key", caps.Stateful, processingErrorRecovers},
		{"capture after void is declined", caps.Stateful, captureAfterVoid},
		{"void after capture is declined", caps.Stateful, voidAfterCapture},
		{"refund before capture is declined", caps.Stateful, refundBeforeCapture},
		{"find unknown key", caps.Stateful, findUnknown},
		{"find declined authorization", caps.Stateful && caps.Declines, findDeclined},
		{"abandon after authorize returns the hold", true, abandonAfterAuthorize},
		{"abandon unused key spends it", caps.Stateful, abandonUnusedKey},
		{"abandon declined authorization", caps.Stateful && caps.Declines, abandonDeclined},
	}
	for _, c := range cases {
		if !c.need {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newGateway(t), caps)
		})
	}
}

// Order is a fresh order ID, so that cases sharing one gateway never meet.
func Order(t testing.TB) string {
	t.Helper()
	return "gwtest-" + rand.Text()
}

// Request is the suite's authorization of orderID with token, under the key the saga uses.
func Request(orderID, token string) payment.AuthorizeRequest {
	return payment.AuthorizeRequest{
		IdempotencyKey: payment.IdempotencyKey(orderID, payment.OpAuthorize),
		OrderID:        orderID, Amount: Amount, Currency: Currency, Token: token,
	}
}

// Authorize authorizes a fresh order with tok_visa and fails the test unless it is approved.
func Authorize(t testing.TB, gw payment.Gateway) (string, payment.Authorization) {
	t.Helper()
	orderID := Order(t)
	auth, err := gw.Authorize(t.Context(), Request(orderID, "tok_visa"))
	if err != nil {
		t.Fatalf("authorize %s: %v", orderID, err)
	}
	return orderID, auth
}

// Settle runs op on auth under its saga key, failing the test on an error.
func Settle(t testing.TB, gw payment.Gateway, orderID string, op payment.Operation, auth payment.Authorization) {
	t.Helper()
	if err := settle(t.Context(), gw, orderID, op, auth); err != nil {
		t.Fatalf("%s %s: %v", op, auth.ID, err)
	}
}

// settle calls the gateway method of op.
func settle(ctx context.Context, gw payment.Gateway, orderID string, op payment.Operation, auth payment.Authorization) error {
	key := payment.IdempotencyKey(orderID, op)
	switch op {
	case payment.OpCapture:
		return gw.Capture(ctx, key, auth)
	case payment.OpVoid:
		return gw.Void(ctx, key, auth)
	case payment.OpRefund:
		return gw.Refund(ctx, key, auth)
	}
	return errors.New("gatewaytest: no such operation " + string(op))
}

// wantDeclined fails the test unless err is a decline that names its reason.
func wantDeclined(t *testing.T, err error, what string) {
	t.Helper()
	var decline *payment.DeclineError
	if !errors.Is(err, payment.ErrDeclined) || !errors.As(err, &decline) {
		t.Fatalf("%s: got %v, want a *payment.DeclineError", what, err)
	}
	if decline.Reason == "" {
		t.Fatalf("%s: decline without a reason: %v", what, err)
	}
}

package stripe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	stripego "github.com/stripe/stripe-go/v83"

	"github.com/shopflow/orders/domain/payment"
)

// Capture captures auth's full amount. Capturing a cancelled or expired PaymentIntent is
// declined with Stripe's error code (payment_intent_unexpected_state…).
func (g *Gateway) Capture(ctx context.Context, idempotencyKey string, auth payment.Authorization) error {
	return g.settle(ctx, "capture", idempotencyKey, auth, func(ctx context.Context, key *string) error {
		_, err := g.client.V1PaymentIntents.Capture(ctx, auth.ID, &stripego.PaymentIntentCaptureParams{
			Params:          stripego.Params{IdempotencyKey: key},
			AmountToCapture: stripego.Int64(auth.Amount),
		})
		return err
	})
}

// Void cancels auth's PaymentIntent, which releases the hold. Cancelling a captured one is
// declined with Stripe's error code.
func (g *Gateway) Void(ctx context.Context, idempotencyKey string, auth payment.Authorization) error {
	return g.settle(ctx, "void", idempotencyKey, auth, func(ctx context.Context, key *string) error {
		_, err := g.client.V1PaymentIntents.Cancel(ctx, auth.ID, &stripego.PaymentIntentCancelParams{
			Params: stripego.Params{IdempotencyKey: key},
		})
		var se *stripego.Error
		if errors.As(err, &se) && se.Code == stripego.ErrorCodePaymentIntentUnexpectedState {
			// Cancelling a captured PaymentIntent fails this way: say so, so that the caller
			// refunds instead of taking the hold for released.
			if pi, gerr := g.client.V1PaymentIntents.Retrieve(ctx, auth.ID, nil); gerr == nil && pi.Status == stripego.PaymentIntentStatusSucceeded {
				return &payment.DeclineError{Reason: payment.ReasonAlreadyCaptured}
			}
		}
		return err
	})
}

// Refund refunds auth's full amount. Refunding what was never captured is declined with
// Stripe's error code; a refund Stripe reports as failed or canceled is declined as
// "refund_failed" or "refund_canceled".
func (g *Gateway) Refund(ctx context.Context, idempotencyKey string, auth payment.Authorization) error {
	return g.settle(ctx, "refund", idempotencyKey, auth, func(ctx context.Context, key *string) error {
		r, err := g.client.V1Refunds.Create(ctx, &stripego.RefundCreateParams{
			Params:        stripego.Params{IdempotencyKey: key},
			PaymentIntent: stripego.String(auth.ID),
			Amount:        stripego.Int64(auth.Amount),
		})
		if err == nil && (r.Status == stripego.RefundStatusFailed || r.Status == stripego.RefundStatusCanceled) {
			return &payment.DeclineError{Reason: "refund_" + string(r.Status)}
		}
		return err
	})
}

// settle runs one money-moving request on auth under key and classifies its error.
func (g *Gateway) settle(ctx context.Context, op, key string, auth payment.Authorization, do func(context.Context, *string) error) error {
	what := fmt.Sprintf("stripe %s %s", op, auth.ID)
	if key == "" || auth.ID == "" {
		return fmt.Errorf("%s: %w", what, errNoID)
	}
	ctx, cancel, err := g.call(ctx, what)
	if err != nil {
		return err
	}
	defer cancel()
	err = do(ctx, stripego.String(key))
	var decline *payment.DeclineError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &decline): // made here, from a 2xx answer: nothing to classify
		return fmt.Errorf("%s: %w", what, err)
	}
	return classify(what, err, true)
}

// errNoID is returned for a settlement call without an idempotency key or authorization.
var errNoID = errors.New("empty idempotency key or authorization id")

// Find returns the authorization that Authorize made with idempotencyKey for orderID, by
// searching PaymentIntents on the metadata Authorize sets. It returns payment.ErrNotFound when
// none holds funds (none was made, or it was declined).
//
// Stripe's search index lags writes, by under a minute normally and up to an hour during
// outages, so ErrNotFound shortly after an unknown outcome is not proof that nothing was made:
// a caller retrying Authorize with the same key then gets the first result from Stripe's
// idempotency layer rather than a second charge. A cancellation, which must know, asks
// Abandon.
func (g *Gateway) Find(ctx context.Context, idempotencyKey, orderID string) (payment.Authorization, error) {
	what := "stripe find " + orderID
	ctx, cancel, err := g.call(ctx, what)
	if err != nil {
		return payment.Authorization{}, err
	}
	defer cancel()
	return g.search(ctx, what, idempotencyKey, orderID)
}

// search looks for the PaymentIntent Authorize made with idempotencyKey for orderID in
// Stripe's search index. Its payment.ErrNotFound may be stale: the index lags writes.
func (g *Gateway) search(ctx context.Context, what, idempotencyKey, orderID string) (payment.Authorization, error) {
	params := &stripego.PaymentIntentSearchParams{SearchParams: stripego.SearchParams{
		Query: fmt.Sprintf("metadata['%s']:'%s' AND metadata['%s']:'%s'",
			MetadataIdempotencyKey, quote(idempotencyKey), MetadataOrderID, quote(orderID)),
		Single: true, // one key makes one PaymentIntent; a page is plenty
	}}
	for pi, err := range g.client.V1PaymentIntents.Search(ctx, params) {
		if err != nil {
			return payment.Authorization{}, classify(what, err, false) // a search moves no money
		}
		switch pi.Status {
		case stripego.PaymentIntentStatusRequiresCapture, stripego.PaymentIntentStatusSucceeded,
			stripego.PaymentIntentStatusCanceled:
			// Captured or voided since: still the authorization that key made.
			return payment.Authorization{ID: pi.ID, Amount: pi.Amount, Currency: strings.ToUpper(string(pi.Currency))}, nil
		case stripego.PaymentIntentStatusProcessing:
			return payment.Authorization{}, fmt.Errorf("%s: %s still processing: %w", what, pi.ID, payment.ErrUnknownOutcome)
		}
	}
	return payment.Authorization{}, fmt.Errorf("%s (key %s): %w", what, idempotencyKey, payment.ErrNotFound)
}

// quote escapes a value for a quoted string of Stripe's search query language.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

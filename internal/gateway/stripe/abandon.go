package stripe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	stripego "github.com/stripe/stripe-go/v83"

	"github.com/shopflow/orders/domain/payment"
)

// MetadataAbandonedKey marks the PaymentIntent Abandon makes to spend an authorize key. It is
// not MetadataIdempotencyKey, so that Find never takes it for an authorization.
const MetadataAbandonedKey = "abandoned_idempotency_key"

// Abandon gives up the authorization req asks for (see payment.Gateway). Stripe's search
// lags its writes, so a search that finds nothing proves nothing; Stripe's idempotency layer,
// which remembers a key for 24 hours, is authoritative. Abandon:
//
//  1. searches, as Find does: a PaymentIntent found there is the answer;
//  2. otherwise probes the key with a PaymentIntent creation whose parameters differ from
//     Authorize's: no confirmation and no payment method, so it can hold nothing.
//     - Stripe refuses it with an idempotency_error: a request with this key was made. Abandon
//     then replays Authorize itself, same key and same parameters, and Stripe answers with
//     the first call's result: its hold, or its decline (ErrNotFound). The key is spent
//     already, so the replay can create nothing.
//     - Stripe creates it: no request with this key reached Stripe, and none can hold funds any
//     more, since a late Authorize with the key now gets an idempotency_error. The probe's
//     PaymentIntent is cancelled (it holds nothing; this keeps the dashboard clean), and the
//     answer is ErrNotFound.
//
// The probe rather than a replay of Authorize in step 2: a replay would authorize, on the
// customer's card, an order that never asked Stripe for anything (a cancel before the payment
// worker ran), which some banks show for days even once voided. Past the key's 24 hours the
// probe proves nothing, but the search does then: its lag is at most an hour.
//
// Anything else (a timeout, a 5xx, a refusal Abandon cannot read) is returned as an error that
// is not ErrNotFound, so that the caller retries and never releases an order on a guess.
func (g *Gateway) Abandon(ctx context.Context, req payment.AuthorizeRequest) (payment.Authorization, error) {
	what := "stripe abandon " + req.OrderID
	if req.IdempotencyKey == "" || req.OrderID == "" || req.Token == "" {
		return payment.Authorization{}, fmt.Errorf("%s: empty idempotency key, order id or token", what)
	}
	if req.Amount <= 0 { // Authorize refuses it without a request
		return payment.Authorization{}, fmt.Errorf("%s: amount %d never sent: %w", what, req.Amount, payment.ErrNotFound)
	}
	ctx, cancel, err := g.call(ctx, what)
	if err != nil {
		return payment.Authorization{}, err
	}
	defer cancel()
	auth, err := g.search(ctx, what, req.IdempotencyKey, req.OrderID)
	if !errors.Is(err, payment.ErrNotFound) {
		return auth, err
	}
	return g.probe(ctx, what, req)
}

// probe is step 2 of Abandon.
func (g *Gateway) probe(ctx context.Context, what string, req payment.AuthorizeRequest) (payment.Authorization, error) {
	pi, err := g.client.V1PaymentIntents.Create(ctx, &stripego.PaymentIntentCreateParams{
		Params:             stripego.Params{IdempotencyKey: stripego.String(req.IdempotencyKey)},
		Amount:             stripego.Int64(req.Amount),
		Currency:           stripego.String(strings.ToLower(req.Currency)),
		PaymentMethodTypes: stripego.StringSlice([]string{string(stripego.PaymentMethodTypeCard)}),
		CaptureMethod:      stripego.String(string(stripego.PaymentIntentCaptureMethodManual)),
		Metadata:           map[string]string{MetadataOrderID: req.OrderID, MetadataAbandonedKey: req.IdempotencyKey},
	})
	var se *stripego.Error
	switch {
	case errors.As(err, &se) && se.Type == stripego.ErrorTypeIdempotency:
		return g.replay(ctx, what, req)
	case err != nil:
		err = classify(what+": probe", err, true)
		var decline *payment.DeclineError
		if errors.As(err, &decline) && amountReason(decline.Reason) {
			// An amount Stripe refuses: it refused Authorize's alike, and a request refused by
			// validation leaves no hold.
			return payment.Authorization{}, fmt.Errorf("%w: %w", err, payment.ErrNotFound)
		}
		if errors.Is(err, payment.ErrDeclined) { // no other refusal says anything of the key
			return payment.Authorization{}, fmt.Errorf("%w: %w", err, payment.ErrUnknownOutcome)
		}
		return payment.Authorization{}, err
	}
	if pi.Metadata[MetadataAbandonedKey] != req.IdempotencyKey {
		// Not the probe: Stripe answered another request's result. Never guess.
		return payment.Authorization{}, fmt.Errorf("%s: probe answered with %s, which is not a probe: %w", what, pi.ID, payment.ErrUnknownOutcome)
	}
	_, err = g.client.V1PaymentIntents.Cancel(ctx, pi.ID, &stripego.PaymentIntentCancelParams{
		Params: stripego.Params{IdempotencyKey: stripego.String(req.IdempotencyKey + "-abandon")},
	})
	if err != nil && !(errors.As(err, &se) && se.Code == stripego.ErrorCodePaymentIntentUnexpectedState) {
		// Cancelled already is fine; otherwise retry: the probe replays, and so will this.
		return payment.Authorization{}, classify(what+": cancel probe "+pi.ID, err, true)
	}
	return payment.Authorization{}, fmt.Errorf("%s: key %s spent by %s, no authorization made: %w", what, req.IdempotencyKey, pi.ID, payment.ErrNotFound)
}

// replay asks Stripe for the first result of Authorize with req's key, which the probe showed
// was used.
func (g *Gateway) replay(ctx context.Context, what string, req payment.AuthorizeRequest) (payment.Authorization, error) {
	auth, err := g.Authorize(ctx, req)
	switch {
	case err == nil:
		return auth, nil
	case errors.Is(err, payment.ErrDeclined):
		// The first authorize's decline, replayed: it held nothing.
		return payment.Authorization{}, fmt.Errorf("%s: the first authorize was declined (%w): %w", what, err, payment.ErrNotFound)
	case errors.Is(err, payment.ErrTransient), errors.Is(err, payment.ErrUnknownOutcome):
		return payment.Authorization{}, fmt.Errorf("%s: replay of the authorize: %w", what, err)
	}
	// A key whose first request had other parameters (a payment method made anew past its
	// key's 24 hours, a release that changed Authorize's request): no retry can tell, so this
	// is an error of no kind the saga retries as an outage. The step's give-up count (or the
	// sweeper's attempts) parks the order in needs_attention: an operator's call.
	return payment.Authorization{}, fmt.Errorf("%s: replay of the authorize cannot tell whether a hold exists: %w", what, err)
}

// Package stripe is the payment gateway on Stripe's PaymentIntents API: an authorization is a
// PaymentIntent confirmed with manual capture; capture, void and refund act on it. Every
// request carries the saga's idempotency key, so Stripe answers a replay with the first
// result.
package stripe

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v83"

	"github.com/shopflow/orders/domain/payment"
)

// Metadata keys set on every PaymentIntent; Find searches by them.
const (
	MetadataOrderID        = "order_id"
	MetadataIdempotencyKey = "idempotency_key"
)

// Gateway is the Stripe gateway. It is safe for concurrent use.
type Gateway struct {
	client  *stripego.Client
	timeout time.Duration
}

var _ payment.Gateway = (*Gateway)(nil)

// New returns a gateway with a Stripe client of its own: the key, the URL and the HTTP client
// are this gateway's, and stripe-go's package-level defaults (stripe.Key, its shared backends)
// are neither read nor changed.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("stripe gateway config: %w", err)
	}
	cfg = cfg.withDefaults()
	backend := &stripego.BackendConfig{
		// No client timeout: each call's context carries Config.Timeout, which also ends a
		// call's retries, and whose expiry is how an unknown outcome is recognised.
		HTTPClient: &http.Client{Transport: cfg.Transport},
		// Errors are returned, with what is safe to log; the library's own logger would
		// write to stderr behind the program's logger.
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
		// Retries are the saga's, by redelivery with back-off and the same key. The
		// library's would sleep without watching the context and retry a request that timed
		// out, which the port reports as an unknown outcome instead.
		MaxNetworkRetries: stripego.Int64(0),
	}
	if cfg.BaseURL != "" {
		backend.URL = stripego.String(cfg.BaseURL)
	}
	client := stripego.NewClient(cfg.APIKey, stripego.WithBackends(stripego.NewBackendsWithConfig(backend)))
	return &Gateway{client: client, timeout: cfg.Timeout}, nil
}

// Authorize turns req.Token into a PaymentMethod and confirms a PaymentIntent on it with
// manual capture. A decline is a *payment.DeclineError with the issuer's decline code, or
// with Stripe's code for an amount it does not take (amount_too_small, amount_too_large,
// amount_invalid; an amount of 0 or less is refused here as amount_too_small); a card
// that needs the customer's authentication (3-D Secure) is declined as
// "authentication_required", since no customer is there to authenticate.
func (g *Gateway) Authorize(ctx context.Context, req payment.AuthorizeRequest) (payment.Authorization, error) {
	what := "stripe authorize " + req.OrderID
	if req.IdempotencyKey == "" || req.OrderID == "" || req.Token == "" {
		return payment.Authorization{}, fmt.Errorf("%s: empty idempotency key, order id or token", what)
	}
	if req.Amount <= 0 {
		// Stripe would refuse it too (parameter_invalid_integer); refusing here sends nothing.
		return payment.Authorization{}, fmt.Errorf("%s: amount %d: %w", what, req.Amount, &payment.DeclineError{Reason: payment.ReasonAmountTooSmall})
	}
	ctx, cancel, err := g.call(ctx, what)
	if err != nil {
		return payment.Authorization{}, err
	}
	defer cancel()
	// The card hash of payment_method_data is not in Stripe's public API (stripe-mock refuses
	// type=card there), so the token becomes a PaymentMethod first. That moves no money:
	// whatever happens to it is safe to retry, under a key derived from the saga's.
	pm, err := g.client.V1PaymentMethods.Create(ctx, &stripego.PaymentMethodCreateParams{
		Params: stripego.Params{IdempotencyKey: stripego.String(req.IdempotencyKey + "-payment-method")},
		Type:   stripego.String(string(stripego.PaymentMethodTypeCard)),
		Card:   &stripego.PaymentMethodCreateCardParams{Token: stripego.String(req.Token)},
	})
	if err != nil {
		return payment.Authorization{}, classify(what+": payment method", err, false)
	}
	pi, err := g.client.V1PaymentIntents.Create(ctx, &stripego.PaymentIntentCreateParams{
		Params:        stripego.Params{IdempotencyKey: stripego.String(req.IdempotencyKey)},
		Amount:        stripego.Int64(req.Amount),
		Currency:      stripego.String(strings.ToLower(req.Currency)),
		PaymentMethod: stripego.String(pm.ID),
		// Card only, so that confirming needs no return_url for redirect-based methods.
		PaymentMethodTypes:    stripego.StringSlice([]string{string(stripego.PaymentMethodTypeCard)}),
		CaptureMethod:         stripego.String(string(stripego.PaymentIntentCaptureMethodManual)),
		Confirm:               stripego.Bool(true),
		ErrorOnRequiresAction: stripego.Bool(true),
		Metadata:              map[string]string{MetadataOrderID: req.OrderID, MetadataIdempotencyKey: req.IdempotencyKey},
	})
	if err != nil {
		return payment.Authorization{}, classify(what, err, true)
	}
	return authorization(what, pi)
}

// authorization reads a confirmed PaymentIntent: requires_capture is a hold on the funds.
func authorization(what string, pi *stripego.PaymentIntent) (payment.Authorization, error) {
	switch pi.Status {
	case stripego.PaymentIntentStatusRequiresCapture:
		return payment.Authorization{ID: pi.ID, Amount: pi.Amount, Currency: strings.ToUpper(string(pi.Currency))}, nil
	case stripego.PaymentIntentStatusRequiresAction:
		return payment.Authorization{}, fmt.Errorf("%s: %s: %w", what, pi.ID, &payment.DeclineError{Reason: "authentication_required"})
	case stripego.PaymentIntentStatusRequiresPaymentMethod:
		reason := "payment_failed"
		if pi.LastPaymentError != nil {
			reason = declineReason(pi.LastPaymentError)
		}
		return payment.Authorization{}, fmt.Errorf("%s: %s: %w", what, pi.ID, &payment.DeclineError{Reason: reason})
	case stripego.PaymentIntentStatusProcessing:
		return payment.Authorization{}, fmt.Errorf("%s: %s still processing: %w", what, pi.ID, payment.ErrUnknownOutcome)
	}
	return payment.Authorization{}, fmt.Errorf("%s: %s confirmed with unexpected status %q", what, pi.ID, pi.Status)
}

// call starts a gateway call: a context bounded by the gateway's timeout. A context that is
// already done sends nothing, so that is a transient failure, not an unknown outcome.
func (g *Gateway) call(ctx context.Context, what string) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %w", what, payment.ErrTransient, err)
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	return ctx, cancel, nil
}

package main

import (
	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/stripe"
)

// newStripeGateway builds the Stripe gateway. Its per-call timeout (20 s by default) stays
// under the payment consumers' AckWait (30 s), so a slow call is settled before redelivery.
func newStripeGateway(p PaymentConfig) (payment.Gateway, error) {
	return stripe.New(stripe.Config{APIKey: p.StripeAPIKey, BaseURL: p.StripeBaseURL})
}

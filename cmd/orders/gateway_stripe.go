package main

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/stripe"
	"github.com/shopflow/orders/internal/telemetry"
)

// newStripeGateway builds the Stripe gateway. Its per-call timeout (20 s by default) stays
// under the payment consumers' AckWait (30 s), so a slow call is settled before redelivery.
// Each HTTP request to Stripe is a client span; our trace context is not sent to Stripe (an
// empty propagator): it is no business of a third party's.
func newStripeGateway(p PaymentConfig, tel *telemetry.Provider) (payment.Gateway, error) {
	var transport http.RoundTripper = http.DefaultTransport
	if tel.Exporting {
		transport = otelhttp.NewTransport(transport, otelhttp.WithTracerProvider(tel),
			otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
	}
	return stripe.New(stripe.Config{APIKey: p.StripeAPIKey, BaseURL: p.StripeBaseURL, Transport: transport})
}

package main

import (
	"context"
	mathrand "math/rand/v2"
	"time"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/telemetry"
)

// newGateway builds the configured payment gateway and what closes it. The simulated gateway
// keeps its record in PostgreSQL through a pool of its own: a real gateway is a separate
// service, and sharing the store's pool would let transactions that wait on the gateway hold
// every connection the gateway needs.
//
// Each gateway call is a span of the step that makes it (telemetry.Gateway); Stripe's HTTP
// requests are spans below it, the simulated gateway's statements too.
func newGateway(ctx context.Context, cfg Config, tel *telemetry.Provider) (payment.Gateway, func(), error) {
	gw, closeGW, err := newPaymentGateway(ctx, cfg, tel)
	if err != nil {
		return nil, nil, err
	}
	return telemetry.Gateway(gw, tel.Tracer(telemetry.ScopeName)), closeGW, nil
}

func newPaymentGateway(ctx context.Context, cfg Config, tel *telemetry.Provider) (payment.Gateway, func(), error) {
	p := cfg.Payment
	if p.Gateway == "stripe" {
		gw, err := newStripeGateway(p, tel)
		return gw, func() {}, err
	}
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL, postgres.WithMaxConns(max(2, cfg.DBMaxConns/4)), queryTracing(tel))
	if err != nil {
		return nil, nil, err
	}
	seed := uint64(time.Now().UnixNano())
	gw, err := simulated.New(pool, simulated.Config{
		Latency: p.SimLatency, FailureRate: p.SimFailureRate, ExitAfterCaptures: p.SimExitAfterCaptures,
	}, mathrand.New(mathrand.NewPCG(seed, seed>>1)))
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return gw, pool.Close, nil
}

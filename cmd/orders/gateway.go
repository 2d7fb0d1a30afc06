package main

import (
	"context"
	mathrand "math/rand/v2"
	"time"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/postgres"
)

// newGateway builds the configured payment gateway and what closes it. The simulated gateway
// keeps its record in PostgreSQL through a pool of its own: a real gateway is a separate
// service, and sharing the store's pool would let transactions that wait on the gateway hold
// every connection the gateway needs.
func newGateway(ctx context.Context, cfg Config) (payment.Gateway, func(), error) {
	p := cfg.Payment
	if p.Gateway == "stripe" {
		gw, err := newStripeGateway(p)
		return gw, func() {}, err
	}
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL, postgres.WithMaxConns(max(2, cfg.DBMaxConns/4)))
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

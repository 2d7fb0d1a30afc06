package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/postgres"
)

func apiServer(cfg Config, store *postgres.Store, b *bus, log *slog.Logger, reg prometheus.Registerer, pm *broker.PublishMetrics) (*http.Server, error) {
	keys, err := b.idempotencyKeys(context.Background())
	if err != nil {
		return nil, err
	}
	pub, err := broker.NewEnvelopePublisher(b.js, broker.Timed(pm, "ingest"))
	if err != nil {
		return nil, err
	}
	auth, err := httpapi.NewAuthenticator(store, cfg.AuthCacheTTL, time.Now)
	if err != nil {
		return nil, err
	}
	limiter, err := httpapi.NewRateLimiter(cfg.RateLimit, cfg.RateBurst, time.Now)
	if err != nil {
		return nil, err
	}
	api, err := httpapi.New(httpapi.Deps{
		Orders: store, Stock: store, Keys: keys, Publisher: pub, Auth: auth, Limiter: limiter, Log: log, Now: time.Now,
		Webhooks: webhookDeps(cfg, store),
	})
	if err != nil {
		return nil, err
	}
	m, err := httpapi.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	return newServer(cfg, cfg.HTTPAddr, httpapi.Recover(log, m.Wrap(mux))), nil
}

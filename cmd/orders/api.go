package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/telemetry"
)

func apiServer(cfg Config, store *postgres.Store, b *bus, log *slog.Logger, reg prometheus.Registerer, pm *broker.PublishMetrics, tel *telemetry.Provider) (*http.Server, error) {
	pub, err := broker.NewEnvelopePublisher(b.js, broker.Timed(pm, "ingest"), broker.Traced(tel))
	if err != nil {
		return nil, err
	}
	intake, err := b.intake(context.Background(), pub, pm, log)
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
		Orders: store, Stock: store, Intake: intake, Publisher: pub, Auth: auth, Limiter: limiter, Log: log, Now: time.Now,
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
	return newServer(cfg, cfg.HTTPAddr, traced(tel, httpapi.Recover(log, m.Wrap(namedSpan(mux))))), nil
}

// traced makes each request a server span that continues the caller's traceparent (W3C
// Trace Context and Baggage), following the HTTP semantic conventions. Without an exporter it
// only reads the caller's context, so the command still carries it on (pass-through) at the
// cost of a header lookup. Metrics stay Prometheus's (a no-op meter provider here).
func traced(tel *telemetry.Provider, h http.Handler) http.Handler {
	if !tel.Exporting {
		prop := telemetry.Propagator()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))))
		})
	}
	return otelhttp.NewHandler(h, "http.server", otelhttp.WithTracerProvider(tel),
		otelhttp.WithPropagators(telemetry.Propagator()), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(spanName))
}

// spanName names a request's span after the route the mux matched ("POST /v1/orders"), once
// it is known (otelhttp names the span again after the handler), by its method before.
func spanName(_ string, r *http.Request) string {
	if r.Pattern == "" {
		return r.Method
	}
	return r.Method + " " + route(r.Pattern)
}

// route is a mux pattern's path ("POST /v1/orders/{id}" → "/v1/orders/{id}").
func route(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// namedSpan sets http.route on the request's span once the mux has routed it: otelhttp reads
// the pattern before, when it is not known yet.
func namedSpan(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Pattern != "" {
			trace.SpanFromContext(r.Context()).SetAttributes(semconv.HTTPRoute(route(r.Pattern)))
		}
	})
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/telemetry"
	"github.com/shopflow/orders/migrations"
)

// serve runs the pieces cfg names until ctx ends, then shuts down in order: stop taking
// requests, finish the messages in flight, relay the events they produced, close connections.
func serve(ctx context.Context, cfg Config, getenv func(string) string, stdout io.Writer) error {
	log := newLogger(cfg, stdout)
	tel, err := telemetry.New(ctx, cfg.Command, getenv)
	if err != nil {
		return err
	}
	defer flushTraces(tel, cfg, log)
	if err := migrate(ctx, cfg); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	groupSizes := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orders_group_commit_size",
		Help:    "Units of work (a message's transaction) committed together in one PostgreSQL transaction, by kind of work.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128}}, []string{"work"})
	reg.MustRegister(groupSizes)
	store, pool, err := openStore(ctx, cfg, tel, func(w postgres.Work, n int) { groupSizes.WithLabelValues(string(w)).Observe(float64(n)) })
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := bootstrapKeys(ctx, cfg, store, log); err != nil {
		return err
	}
	bus, err := connectBus(ctx, cfg)
	if err != nil {
		return err
	}
	defer bus.close()

	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		postgres.NewCollector(store),
		broker.NewCollector(bus.js, []string{events.StreamCommands, events.StreamEvents, events.StreamDeadLetters},
			consumerRefs()))
	pubMetrics, err := broker.NewPublishMetrics(reg)
	if err != nil {
		return err
	}

	var servers []*http.Server
	if cfg.has("api") {
		srv, err := apiServer(cfg, store, bus, log, reg, pubMetrics, tel)
		if err != nil {
			return err
		}
		servers = append(servers, srv)
	}
	admin := http.NewServeMux()
	httpapi.AdminRoutes(admin, reg, readinessChecks(cfg, store, bus))
	if cfg.Pprof {
		// Profiles are for the operator's network only, like /metrics (see README).
		admin.HandleFunc("GET /debug/pprof/", pprof.Index)
		admin.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		admin.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	servers = append(servers, newServer(cfg, cfg.AdminAddr, admin))

	gw, closeGateway, err := newGateway(ctx, cfg, tel)
	if err != nil {
		return err
	}
	defer closeGateway()
	workers, err := newWorkers(deps{cfg: cfg, store: store, gw: gw, bus: bus, log: log, reg: reg, pub: pubMetrics, tp: tel})
	if err != nil {
		return err
	}
	return runAll(ctx, cfg, log, servers, workers)
}

// flushTraces exports the spans still buffered, within the shutdown timeout, once everything
// that makes them has stopped.
func flushTraces(tel *telemetry.Provider, cfg Config, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("traces not flushed", "err", err)
	}
}

// readinessChecks are what this process needs to do its job. Every piece needs JetStream; the
// workers need PostgreSQL too, while the API alone still takes orders without it (JetStream
// stores them, keys seen before keep authenticating), so it only reports the database.
func readinessChecks(cfg Config, store *postgres.Store, b *bus) []httpapi.Check {
	return []httpapi.Check{
		{Name: "postgres", Probe: store.Ping, Optional: cfg.Command == "api"},
		{Name: "jetstream", Probe: b.ping},
	}
}

// runAll starts the servers and workers and stops them in order when ctx ends.
func runAll(ctx context.Context, cfg Config, log *slog.Logger, servers []*http.Server, w *workers) error {
	listeners := make([]net.Listener, len(servers))
	for i, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", s.Addr, err)
		}
		listeners[i] = ln
		log.Info("listening", "addr", ln.Addr().String())
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range servers {
		g.Go(func() error {
			if err := s.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", s.Addr, err)
			}
			return nil
		})
	}
	w.start(gctx, g)
	log.Info("orders started", "command", cfg.Command)
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.Shutdown(sctx))
		}
		errs = append(errs, w.stop(sctx))
		return errors.Join(errs...)
	})
	err := g.Wait()
	log.Info("orders stopped", "err", err)
	return err
}

// openStore opens the service's pool as the service role, and the store over it; close the
// pool. It neither creates the database nor migrates it (migrate does, as the migration role),
// and fails when the schema is behind this binary's migrations.
func openStore(ctx context.Context, cfg Config, tel *telemetry.Provider, observeGroup func(postgres.Work, int)) (*postgres.Store, *pgxpool.Pool, error) {
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL, postgres.WithMaxConns(cfg.DBMaxConns), queryTracing(tel))
	if err != nil {
		return nil, nil, err
	}
	if err := postgres.CheckMigrated(ctx, pool, migrations.FS); err != nil {
		pool.Close()
		return nil, nil, err
	}
	store, err := postgres.NewStore(pool, postgres.GroupConfig{MaxSize: cfg.GroupCommitMax, Committers: cfg.GroupCommitters, Observe: observeGroup})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return store, pool, nil
}

// migrate creates the database if missing and applies migrations as the migration role
// (MIGRATE_DATABASE_URL, or the service's role when unset). Only the service's own commands
// (run, api, worker, migrate) call it; operator commands never change the schema.
func migrate(ctx context.Context, cfg Config) error {
	if err := postgres.EnsureDatabase(ctx, cfg.migrateURL()); err != nil {
		return err
	}
	pool, err := postgres.Connect(ctx, cfg.migrateURL())
	if err != nil {
		return err
	}
	defer pool.Close()
	return postgres.Migrate(ctx, pool, migrations.FS)
}

// bootstrapKeys creates the ORDERS_BOOTSTRAP_KEYS that are absent. It logs their ids, never
// the keys.
func bootstrapKeys(ctx context.Context, cfg Config, store *postgres.Store, log *slog.Logger) error {
	entries, err := access.ParseBootstrap(cfg.BootstrapKeys)
	if err != nil {
		return fmt.Errorf("ORDERS_BOOTSTRAP_KEYS: %w", err)
	}
	for _, e := range entries {
		k, err := access.FromPlaintext(e.Key, e.Role, e.Storefront)
		if err != nil {
			return err
		}
		created, err := store.CreateKey(ctx, k)
		if err != nil {
			return err
		}
		if created {
			log.Info("bootstrap key created", "key_id", k.ID, "role", k.Role, "storefront", k.Storefront)
		}
	}
	return nil
}

// newServer bounds every phase of a request, so slow clients cannot hold connections open.
func newServer(cfg Config, addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// newLogger writes cfg's format; a line logged with a context inside a span carries its
// trace_id and span_id.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" || (cfg.LogFormat == "auto" && isTerminal(w)) {
		return slog.New(telemetry.NewLogHandler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(w, opts)))
}

// queryTracing makes every PostgreSQL statement of a traced piece of work a span, when spans
// are exported: without an exporter the pool gets no tracer at all, so queries pay nothing.
// Statements outside any trace (the relay's polls, the sweeper, scrapes) start none.
func queryTracing(tel *telemetry.Provider) postgres.Option {
	if !tel.Exporting {
		return func(*pgxpool.Config) {}
	}
	return postgres.WithQueryTracer(otelpgx.NewTracer(otelpgx.WithTracerProvider(telemetry.ChildrenOnly(tel)),
		otelpgx.WithDisableSQLStatementInAttributes(), otelpgx.WithDisableAcquireTracer()))
}

// isTerminal reports whether w is a character device (a terminal) rather than a pipe or file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func embeddedStoreDir(cfg Config) string { return filepath.Join(cfg.DataDir, "jetstream") }

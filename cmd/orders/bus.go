package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/natsserver"
)

// bus holds the NATS side: the embedded server when there is one, and one connection per
// role, because watermill-style Close drains a connection and a shared one would stall the
// others (LIBRARIES.md).
type bus struct {
	server  *natsserver.Server
	conns   []*nats.Conn
	js      jetstream.JetStream // publishing: commands, events, dead letters
	connect func(name string) (jetstream.JetStream, error)
}

func connectBus(ctx context.Context, cfg Config) (*bus, error) {
	b := &bus{}
	url, opts := cfg.NATSURL, []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if url != "" {
		opts = append(opts, natsAuthOptions(cfg.NATS)...)
	} else {
		srv, err := natsserver.Start(natsserver.Config{StoreDir: embeddedStoreDir(cfg), Listen: cfg.NATSListen})
		if err != nil {
			return nil, err
		}
		b.server = srv
		opts = append(opts, srv.ConnectOption())
	}
	b.connect = func(name string) (jetstream.JetStream, error) {
		nc, err := nats.Connect(url, append(opts, nats.Name("orders-"+name))...)
		if err != nil {
			return nil, fmt.Errorf("connect to nats (%s): %w", name, err)
		}
		b.conns = append(b.conns, nc)
		js, err := jetstream.New(nc)
		if err != nil {
			return nil, fmt.Errorf("jetstream (%s): %w", name, err)
		}
		return js, nil
	}
	js, err := b.connect("publish")
	if err == nil {
		b.js = js
		err = broker.EnsureTopology(ctx, js, broker.TopologyConfig{Replicas: cfg.NATSReplicas})
	}
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *bus) ping(ctx context.Context) error {
	_, err := b.js.AccountInfo(ctx)
	return err
}

// intake is the ingest's store of accepted orders: atomic batches on a server that has them,
// the idempotency bucket and a publish per order on an older one.
func (b *bus) intake(ctx context.Context, pub *broker.EnvelopePublisher, pm *broker.PublishMetrics, log *slog.Logger) (httpapi.Intake, error) {
	kv, err := b.js.KeyValue(ctx, events.BucketIdempotency)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", events.BucketIdempotency, err)
	}
	in, batched, err := broker.NewIntake(ctx, b.js, kv, pub, broker.BatchIntakeConfig{Observe: pm.ObserveIngestBatch})
	if err == nil && !batched {
		log.Warn("the commands stream does not allow atomic batches (nats-server older than "+broker.AtomicBatchMinVersion+
			"): the ingest stores each order alone, three synced writes", "server_version", b.js.Conn().ConnectedServerVersion())
	}
	return in, err
}

// close drains every connection (publishes in flight complete) and stops the embedded server
// last, once nothing talks to it.
func (b *bus) close() {
	var errs []error
	for _, nc := range b.conns {
		errs = append(errs, nc.Drain())
	}
	for _, nc := range b.conns {
		for !nc.IsClosed() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	_ = errors.Join(errs...) // draining at exit: nothing left to report to
	if b.server != nil {
		b.server.Shutdown()
	}
}

// natsAuthOptions turns the configured credentials and TLS files into connection options.
// Each is used only when set; the server decides which it requires.
func natsAuthOptions(a NATSAuth) []nats.Option {
	var opts []nats.Option
	if a.User != "" || a.Password != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeySeedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			opt = func(*nats.Options) error { return fmt.Errorf("NATS_NKEY_SEED_FILE: %w", err) }
		}
		opts = append(opts, opt)
	}
	if a.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(a.TLSCAFile))
	}
	if a.TLSCertFile != "" || a.TLSKeyFile != "" {
		opts = append(opts, nats.ClientCert(a.TLSCertFile, a.TLSKeyFile))
	}
	return opts
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/events"
)

// TopologyConfig sizes the streams and buckets the program creates at start.
type TopologyConfig struct {
	// Replicas is 1 on a single node, 3 in a cluster (a quorum stores each message).
	Replicas int
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id; default 2 minutes. It only
	// spares the consumers work (their inbox is the guard that lasts), and the server holds every
	// id of the window in memory: at 150 orders/s a 10-minute window held most of a 250 MB heap
	// (BENCHMARKS.md).
	DuplicateWindow time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered; default 24 hours.
	IdempotencyTTL time.Duration
	// CommandsMaxAge and EventsMaxAge bound how long messages stay in their streams after
	// they were consumed; defaults 7 and 30 days. Dead letters are kept until removed.
	CommandsMaxAge, EventsMaxAge time.Duration
}

// How long the streams keep a message by default. A consumer's inbox must remember a message
// at least as long, or a redelivery could apply it again.
const (
	DefaultCommandsMaxAge = 7 * 24 * time.Hour
	DefaultEventsMaxAge   = 30 * 24 * time.Hour
)

func (c TopologyConfig) withDefaults() TopologyConfig {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.CommandsMaxAge == 0 {
		c.CommandsMaxAge = DefaultCommandsMaxAge
	}
	if c.EventsMaxAge == 0 {
		c.EventsMaxAge = DefaultEventsMaxAge
	}
	return c
}

// EnsureTopology creates or updates the commands, events and dead-letter streams and the
// idempotency bucket. It is idempotent, so every process runs it at start.
func EnsureTopology(ctx context.Context, js jetstream.JetStream, cfg TopologyConfig) error {
	cfg = cfg.withDefaults()
	streams := []jetstream.StreamConfig{
		{Name: events.StreamCommands, Subjects: []string{events.SubjectsCommands}, MaxAge: cfg.CommandsMaxAge},
		{Name: events.StreamEvents, Subjects: []string{events.SubjectsEvents}, MaxAge: cfg.EventsMaxAge},
		{Name: events.StreamDeadLetters, Subjects: []string{events.SubjectsDeadLetters}},
	}
	if supportsAtomicBatches(js) {
		// The ingest stores each batch of accepted orders, with their keys' claims, in one
		// atomic batch (BatchIntake), and the relay each batch of outbox rows.
		streams[0].AllowAtomicPublish, streams[0].AllowMsgTTL = true, true
		streams[1].AllowAtomicPublish = true
	}
	var errs []error
	for _, sc := range streams {
		sc.Storage = jetstream.FileStorage
		sc.Replicas = cfg.Replicas
		if s, err := js.Stream(ctx, sc.Name); err == nil {
			have := s.CachedInfo().Config
			// An operator scaled it up: a process with an older setting must not scale it down.
			sc.Replicas = max(sc.Replicas, have.Replicas)
			// Once on, atomic batches and message TTLs stay on: the server refuses to turn TTLs
			// off, and a process connected to an older node of a cluster must not try.
			sc.AllowAtomicPublish = sc.AllowAtomicPublish || have.AllowAtomicPublish
			sc.AllowMsgTTL = sc.AllowMsgTTL || have.AllowMsgTTL
		}
		sc.Duplicates = cfg.DuplicateWindow
		sc.Retention = jetstream.LimitsPolicy
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", sc.Name, err))
		}
	}
	_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      events.BucketIdempotency,
		Description: "Idempotency-Key → request hash and order id",
		TTL:         cfg.IdempotencyTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		History:     1,
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("bucket %s: %w", events.BucketIdempotency, err))
	}
	return errors.Join(errs...)
}

// AtomicBatchesOn reports whether the stream name allows atomic batches (and, for the commands
// stream, message TTLs too), as EnsureTopology left it: what the ingest and the relay use
// depends on the stream, the same for every process, not on the node a process reached.
func AtomicBatchesOn(ctx context.Context, js jetstream.JetStream, name string) (bool, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", name, err)
	}
	c := s.CachedInfo().Config
	return c.AllowAtomicPublish && (name != events.StreamCommands || c.AllowMsgTTL), nil
}

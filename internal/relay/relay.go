// Package relay moves committed events from the PostgreSQL outbox to JetStream. It survives a
// crash between commit and publish (rows stay until JetStream stored them) and keeps
// per-order order (one relay at a time publishes, oldest row first, an order's events one
// acknowledged wave after another).
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/events"
)

// Outbox hands batches of committed events to publish and deletes them once published.
type Outbox interface {
	RelayBatch(ctx context.Context, limit int, publish func(context.Context, []events.Envelope) error) (int, error)
}

// Waiter blocks until new events may be waiting (or timeout passes).
type Waiter interface {
	Wait(ctx context.Context, timeout time.Duration) error
	Close(ctx context.Context) error
}

// Publisher stores envelopes in JetStream, in order, and returns once all are stored.
type Publisher interface {
	Publish(ctx context.Context, envs ...events.Envelope) error
}

// AtomicPublisher is a Publisher that can also store envelopes in one all-or-nothing batch,
// in their order (one synced write for all).
type AtomicPublisher interface {
	Publisher
	PublishAtomic(ctx context.Context, envs ...events.Envelope) error
}

// Config tunes the relay.
type Config struct {
	BatchSize    int           // rows per transaction; default 256
	PollInterval time.Duration // longest wait without a notification; default 1s
	// Atomic publishes each batch of at least 16 rows as one atomic batch when the publisher is
	// an AtomicPublisher (the stream must allow it), and falls back to waves for a batch that
	// fails so (it holds an event stored before, after a crash, which an atomic batch refuses).
	Atomic bool
}

// An atomic batch is used for minAtomicBatch to maxAtomicBatch events: nats-server takes at
// most 1,000 messages in one, and on a single node it stages each batch in a file store of
// its own, a few milliseconds whatever the size, while a few pipelined publishes take about a
// millisecond. Below 16 events waves are faster; above, one synced write beats one per event.
const (
	minAtomicBatch = 16
	maxAtomicBatch = 1000
)

// Relay runs the outbox → JetStream loop.
type Relay struct {
	outbox    Outbox
	listen    func(context.Context) (Waiter, error)
	pub       Publisher
	cfg       Config
	log       *slog.Logger
	published prometheus.Counter
	failures  prometheus.Counter
}

// New returns a relay. listen opens a notification listener (see postgres.ListenOutbox).
func New(outbox Outbox, listen func(context.Context) (Waiter, error), pub Publisher, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	if outbox == nil || listen == nil || pub == nil || log == nil || reg == nil {
		return nil, errors.New("relay: New needs every dependency")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	r := &Relay{outbox: outbox, listen: listen, pub: pub, cfg: cfg, log: log,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_outbox_relayed_total", Help: "Events published from the outbox to JetStream.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_outbox_relay_failures_total", Help: "Relay batches that failed and will be retried.",
		}),
	}
	for _, c := range []prometheus.Collector{r.published, r.failures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register relay metrics: %w", err)
		}
	}
	return r, nil
}

// Run relays until ctx ends; it returns nil then. Failures are logged, counted and retried
// with back-off: the rows wait in the outbox, nothing is lost.
func (r *Relay) Run(ctx context.Context) error {
	backoff := newBackoff()
	for ctx.Err() == nil {
		w, err := r.listen(ctx)
		if err != nil {
			r.fail(ctx, "open outbox listener", err, backoff)
			continue
		}
		err = r.drain(ctx, w, backoff)
		_ = w.Close(context.WithoutCancel(ctx)) // the listener is dropped either way
		if err != nil && ctx.Err() == nil {
			r.fail(ctx, "outbox listener", err, backoff)
		}
	}
	return nil
}

// drain publishes batches while full ones come back, then waits for a notification.
func (r *Relay) drain(ctx context.Context, w Waiter, backoff *backoff) error {
	for ctx.Err() == nil {
		n, err := r.outbox.RelayBatch(ctx, r.cfg.BatchSize, r.publish)
		if err != nil {
			r.fail(ctx, "relay batch", err, backoff)
			continue
		}
		backoff.reset()
		r.published.Add(float64(n))
		if n == r.cfg.BatchSize {
			continue
		}
		if err := w.Wait(ctx, r.cfg.PollInterval); err != nil {
			return err
		}
	}
	return nil
}

// publishTimeout bounds one batch: the batch's transaction stays open while it publishes, and
// an async publish to a server that went away would otherwise wait for its ack forever.
const publishTimeout = 10 * time.Second

// publish stores a batch in JetStream wave by wave. The publisher pipelines a wave, and in a
// pipeline a later message can be stored while an earlier one fails; the retry would then put
// the earlier one after it. A wave holds at most one event per order, and the next wave starts
// only once JetStream acknowledged the whole wave, so an order's events are stored in the order
// they were written even when a batch fails part way (the retry's repeats are deduplicated).
//
// With Config.Atomic, a batch of 16 events or more is first sent as one atomic batch: stored in order, all or
// none, so no wave is needed. Any failure of it (an event stored before, a server that went
// away) falls back to waves, whose repeats JetStream deduplicates.
func (r *Relay) publish(ctx context.Context, envs []events.Envelope) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if atomic, ok := r.pub.(AtomicPublisher); ok && r.cfg.Atomic && len(envs) >= minAtomicBatch && len(envs) <= maxAtomicBatch {
		err := atomic.PublishAtomic(ctx, envs...)
		if err == nil {
			return nil
		}
		r.log.DebugContext(ctx, "atomic batch refused; publishing in waves", "events", len(envs), "err", err)
	}
	return publishInWaves(ctx, r.pub, envs)
}

func publishInWaves(ctx context.Context, pub Publisher, envs []events.Envelope) error {
	for _, wave := range waves(envs) {
		if err := pub.Publish(ctx, wave...); err != nil {
			return err
		}
	}
	return nil
}

// waves splits envs so that wave k holds the k-th event of every order in envs, each order's
// events keeping their relative order and each wave keeping the batch's order.
func waves(envs []events.Envelope) [][]events.Envelope {
	nth := make(map[string]int, len(envs))
	var out [][]events.Envelope
	for _, e := range envs {
		k := nth[e.OrderID]
		nth[e.OrderID] = k + 1
		if k == len(out) {
			out = append(out, nil)
		}
		out[k] = append(out[k], e)
	}
	return out
}

func (r *Relay) fail(ctx context.Context, what string, err error, b *backoff) {
	if ctx.Err() != nil {
		return
	}
	r.failures.Inc()
	d := b.next()
	r.log.WarnContext(ctx, "outbox relay failed; retrying", "step", what, "retry_in", d, "err", err)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	switch {
	case b.d == 0:
		b.d = 100 * time.Millisecond
	case b.d < 5*time.Second:
		b.d *= 2
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

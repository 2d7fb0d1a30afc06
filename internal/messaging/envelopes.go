package messaging

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/events"
)

// EnvelopePublisher publishes our own envelopes (the ingest's commands, the relay's events)
// straight to JetStream, waiting for each to be stored.
type EnvelopePublisher struct {
	js       jetstream.JetStream
	observer prometheus.Observer
}

// EnvelopePublisherOption configures an EnvelopePublisher.
type EnvelopePublisherOption func(*EnvelopePublisher)

// Timed records every publish's latency in m under the publisher label name.
func Timed(m *PublishMetrics, name string) EnvelopePublisherOption {
	return func(p *EnvelopePublisher) { p.observer = m.seconds.WithLabelValues(name) }
}

// NewEnvelopePublisher returns a publisher over js.
func NewEnvelopePublisher(js jetstream.JetStream, opts ...EnvelopePublisherOption) (*EnvelopePublisher, error) {
	if js == nil {
		return nil, errors.New("messaging: NewEnvelopePublisher needs a JetStream context")
	}
	p := &EnvelopePublisher{js: js}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Publish stores envs in JetStream, in order, and returns once every one is acknowledged
// (stored and, on a single node configured as we ship it, synced to disk). A message whose
// id JetStream has seen within its duplicate window is acknowledged without being stored
// again. Failures wrap fault.ErrUnavailable.
func (p *EnvelopePublisher) Publish(ctx context.Context, envs ...events.Envelope) error {
	if p.observer != nil {
		defer func(start time.Time) { p.observer.Observe(time.Since(start).Seconds()) }(time.Now())
	}
	if len(envs) == 1 { // the ingest's path: one round trip, no async machinery
		if _, err := p.js.PublishMsg(ctx, envelopeMsg(envs[0])); err != nil {
			return fmt.Errorf("%w: publish %s %s: %w", fault.ErrUnavailable, envs[0].Name, envs[0].ID, err)
		}
		return nil
	}
	// A batch is pipelined: sent in order, then every ack awaited. With every write synced,
	// one message at a time capped the relay at one fsync round trip per event (≈250 orders/s
	// on 2 cores, BENCHMARKS.md). In a pipeline a later message can be stored while an earlier
	// one fails: a caller that needs two messages stored in order (the relay, per order) puts
	// them in separate calls. A failed batch is published again whole; JetStream drops the
	// repeats (same ids within its duplicate window).
	futures := make([]jetstream.PubAckFuture, 0, len(envs))
	for _, e := range envs {
		f, err := p.js.PublishMsgAsync(envelopeMsg(e))
		if err != nil {
			return fmt.Errorf("%w: publish %s %s: %w", fault.ErrUnavailable, e.Name, e.ID, err)
		}
		futures = append(futures, f)
	}
	var failed error
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			failed = cmp.Or(failed, fmt.Errorf("%w: publish %s %s: %w", fault.ErrUnavailable, envs[i].Name, envs[i].ID, err))
		case <-ctx.Done():
			return fmt.Errorf("%w: publish %s %s: %w", fault.ErrUnavailable, envs[i].Name, envs[i].ID, ctx.Err())
		}
	}
	return failed
}

func envelopeMsg(e events.Envelope) *nats.Msg {
	m := nats.NewMsg(e.Subject)
	m.Data = e.Payload
	for k, v := range e.Metadata() {
		m.Header[k] = []string{v}
	}
	m.Header[jetstream.MsgIDHeader] = []string{e.ID}
	return m
}

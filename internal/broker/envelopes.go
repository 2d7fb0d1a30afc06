package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/messaging"
	"github.com/shopflow/orders/internal/telemetry"
)

// EnvelopePublisher publishes our own envelopes (the ingest's commands, the relay's events)
// to JetStream through messaging.Publisher, the program's one publish path, waiting for each
// to be stored.
type EnvelopePublisher struct {
	js       jetstream.JetStream
	pub      *messaging.Publisher
	observer prometheus.Observer
	tracer   trace.Tracer
}

// EnvelopePublisherOption configures an EnvelopePublisher.
type EnvelopePublisherOption func(*EnvelopePublisher)

// Timed records every publish's latency in m under the publisher label name.
func Timed(m *PublishMetrics, name string) EnvelopePublisherOption {
	return func(p *EnvelopePublisher) { p.observer = m.seconds.WithLabelValues(name) }
}

// Traced makes each envelope's publish a producer span (telemetry.StartPublish), whose
// context the message's headers carry to its consumers. Without it the envelopes' own trace
// headers (Envelope.Trace) are sent as they are.
func Traced(tp trace.TracerProvider) EnvelopePublisherOption {
	return func(p *EnvelopePublisher) { p.tracer = tp.Tracer(telemetry.ScopeName) }
}

// NewEnvelopePublisher returns a publisher over js.
func NewEnvelopePublisher(js jetstream.JetStream, opts ...EnvelopePublisherOption) (*EnvelopePublisher, error) {
	if js == nil {
		return nil, errors.New("broker: NewEnvelopePublisher needs a JetStream context")
	}
	pub, err := messaging.NewPublisher(js, nil)
	if err != nil {
		return nil, fmt.Errorf("broker: NewEnvelopePublisher: %w", err)
	}
	p := &EnvelopePublisher{js: js, pub: pub}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Publish stores envs in JetStream and returns once every one is acknowledged (stored and, on
// a single node configured as we ship it, synced to disk). The envelope's id is its
// Nats-Msg-Id: a message whose id JetStream has seen within its duplicate window is
// acknowledged without being stored again, so a failed call is safely published again whole.
// Several envelopes are pipelined (messaging.Publisher): a caller that needs two stored in
// order (the relay, per order) puts them in separate calls. ctx bounds the wait for each ack,
// or JetStream's default timeout (5s) when it has no deadline. Failures wrap
// fault.ErrUnavailable.
func (p *EnvelopePublisher) Publish(ctx context.Context, envs ...events.Envelope) error {
	defer p.timed(time.Now())
	msgs, end := p.messages(ctx, envs)
	_, err := p.pub.PublishMsgs(ctx, msgs...)
	end(err)
	if err != nil {
		return fmt.Errorf("%w: %w", fault.ErrUnavailable, err)
	}
	return nil
}

// ErrStoredBefore is returned by PublishAtomic when the batch held a message whose
// Nats-Msg-Id JetStream has stored before (a retry after a crash between publish and
// bookkeeping): an atomic batch takes no duplicate, so nothing of it was stored, and the
// caller publishes the envelopes with Publish, which absorbs the duplicates.
var ErrStoredBefore = errors.New("broker: the batch holds a message stored before")

// PublishAtomic stores envs in one atomic batch, in their order, all or none: one synced write
// for all. The stream must allow atomic batches (EnsureTopology sets it on a server since
// AtomicBatchMinVersion) and envs must fit a batch (1,000 messages). Failures wrap
// fault.ErrUnavailable, or are ErrStoredBefore.
func (p *EnvelopePublisher) PublishAtomic(ctx context.Context, envs ...events.Envelope) error {
	defer p.timed(time.Now())
	msgs, end := p.messages(ctx, envs)
	_, err := publishBatch(ctx, p.js, msgs)
	end(err)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstreamext.JSErrCodeBatchPublishDuplicateMsgID || apiErr.ErrorCode == errCodeDuplicateMessageConflict) {
		return fmt.Errorf("%w: %w", ErrStoredBefore, err)
	}
	if err != nil {
		return fmt.Errorf("%w: atomic batch of %d: %w", fault.ErrUnavailable, len(envs), err)
	}
	return nil
}

// errCodeDuplicateMessageConflict is nats-server's JSStreamDuplicateMessageConflict: a batch's
// Nats-Msg-Id is being stored by another publish right now.
const errCodeDuplicateMessageConflict jetstream.ErrorCode = 10158

// timed records, when the publisher is Timed, the time since start as one publish's latency.
func (p *EnvelopePublisher) timed(start time.Time) {
	if p.observer != nil {
		p.observer.Observe(time.Since(start).Seconds())
	}
}

// messages turns envs into JetStream messages, each a producer span when the publisher is
// Traced; end ends the spans with the publish's outcome.
func (p *EnvelopePublisher) messages(ctx context.Context, envs []events.Envelope) (msgs []*nats.Msg, end func(error)) {
	msgs = make([]*nats.Msg, len(envs))
	spans := make([]trace.Span, 0, len(envs))
	for i, e := range envs {
		if p.tracer != nil {
			var span trace.Span
			e, span = telemetry.StartPublish(ctx, p.tracer, e)
			spans = append(spans, span)
		}
		msgs[i] = envelopeMsg(e)
	}
	return msgs, func(err error) {
		for _, s := range spans {
			telemetry.EndPublish(s, err)
		}
	}
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

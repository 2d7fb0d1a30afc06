package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fallbackAckTimeout bounds the wait for a JetStream ack when neither the
// message context nor the JetStream options give a limit.
const fallbackAckTimeout = 5 * time.Second

// Publisher is the one path by which this program publishes to JetStream:
// watermill messages through Publish, ready NATS messages (the application's
// envelopes) through PublishMsgs. A stream must already capture each subject.
//
// Every message carries a Nats-Msg-Id (a watermill message's is its UUID), so
// republishing it within the stream's duplicate window is stored once.
//
// Timeouts, one rule for one message and for many: the wait for each
// message's ack ends at its context's deadline or, when the context has none,
// after the JetStream context's DefaultTimeout (5s unless configured).
type Publisher struct {
	js         jetstream.JetStream
	logger     watermill.LoggerAdapter
	ackTimeout time.Duration

	// mu is held for reading by every publish so that Close can wait for
	// publishes in flight: after Close returns nothing is still being sent.
	mu     sync.RWMutex
	closed bool
}

// NewPublisher returns a Publisher that sends through js. The caller owns the
// connection behind js: Close does not close or drain it. A nil logger
// discards logs.
func NewPublisher(js jetstream.JetStream, logger watermill.LoggerAdapter) (*Publisher, error) {
	if js == nil {
		return nil, errors.New("messaging: new publisher: JetStream is nil")
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	ackTimeout := js.Options().DefaultTimeout
	if ackTimeout <= 0 {
		ackTimeout = fallbackAckTimeout
	}
	return &Publisher{js: js, logger: logger, ackTimeout: ackTimeout}, nil
}

// outgoing is one message to publish and the context that bounds its wait.
type outgoing struct {
	ctx context.Context
	msg *nats.Msg
}

// Publish sends msgs to the subject topic and waits until JetStream has
// acknowledged (stored) each of them; each message's Context bounds its wait
// (see Publisher for the timeout rule). An invalid message fails the whole
// call before anything is sent.
//
// Metadata values travel as NATS header values, which nats.go sanitises:
// leading and trailing white space is trimmed and CR or LF become spaces.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	_, err := p.publishAcked(topic, msgs...)
	return err
}

// publishAcked is Publish that also returns JetStream's acks, one per message.
func (p *Publisher) publishAcked(topic string, msgs ...*message.Message) ([]*jetstream.PubAck, error) {
	out := make([]outgoing, len(msgs))
	for i, msg := range msgs {
		nm, err := toNatsMsg(topic, msg)
		if err != nil {
			return nil, fmt.Errorf("messaging: publish to %q: %w", topic, err)
		}
		out[i] = outgoing{ctx: msg.Context(), msg: nm}
	}
	return p.send(out)
}

// PublishMsgs sends msgs, in order, and waits until JetStream has
// acknowledged each of them, ctx bounding every wait (see Publisher for the
// timeout rule). Each message must carry a Nats-Msg-Id header. It returns
// the acks, one per message; an ack's Duplicate says the stream had the id
// already and stored nothing.
func (p *Publisher) PublishMsgs(ctx context.Context, msgs ...*nats.Msg) ([]*jetstream.PubAck, error) {
	out := make([]outgoing, len(msgs))
	for i, m := range msgs {
		if m.Header.Get(jetstream.MsgIDHeader) == "" {
			return nil, fmt.Errorf("messaging: publish to %q: message %d has no %s header", m.Subject, i, jetstream.MsgIDHeader)
		}
		out[i] = outgoing{ctx: ctx, msg: m}
	}
	return p.send(out)
}

// send is the publish path. One message is published synchronously (one
// round trip, no async machinery). Several are pipelined: all sent, then
// every ack awaited in order, so a batch costs about one round trip. In a
// pipeline a later message can be stored while an earlier one fails: a caller
// that needs two messages stored in order puts them in separate calls, and
// republishes a failed batch whole (JetStream drops the repeats by id). The
// first failure is returned.
func (p *Publisher) send(out []outgoing) ([]*jetstream.PubAck, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, errors.New("messaging: publish: publisher is closed")
	}
	switch len(out) {
	case 0:
		return nil, nil
	case 1:
		ack, err := p.publishOne(out[0])
		return []*jetstream.PubAck{ack}, err
	default:
		return p.publishMany(out)
	}
}

func (p *Publisher) publishOne(o outgoing) (*jetstream.PubAck, error) {
	ctx, cancel := p.ackContext(o.ctx)
	defer cancel()
	ack, err := p.js.PublishMsg(ctx, o.msg)
	if err != nil {
		return nil, publishError(o.msg, err)
	}
	p.logPublished(o.msg, ack)
	return ack, nil
}

func (p *Publisher) publishMany(out []outgoing) ([]*jetstream.PubAck, error) {
	type inFlight struct {
		i      int
		future jetstream.PubAckFuture
		ctx    context.Context
		cancel context.CancelFunc
	}
	acks := make([]*jetstream.PubAck, len(out))
	errs := make([]error, len(out))
	sent := make([]inFlight, 0, len(out))
	for i, o := range out {
		ctx, cancel := p.ackContext(o.ctx)
		if err := ctx.Err(); err != nil {
			cancel()
			errs[i] = err
			break
		}
		future, err := p.js.PublishMsgAsync(o.msg)
		if err != nil {
			cancel()
			errs[i] = err
			// Stop sending: the rest would most likely fail the same way
			// (stalled, disconnected) and the caller retries the batch.
			break
		}
		sent = append(sent, inFlight{i: i, future: future, ctx: ctx, cancel: cancel})
	}
	// Wait for every message sent, even after a failure, so that nothing of
	// this call is still in flight when it returns.
	for _, f := range sent {
		select {
		case ack := <-f.future.Ok():
			acks[f.i] = ack
			p.logPublished(out[f.i].msg, ack)
		case err := <-f.future.Err():
			errs[f.i] = err
		case <-f.ctx.Done():
			errs[f.i] = fmt.Errorf("waiting for ack: %w", f.ctx.Err())
		}
		f.cancel()
	}
	for i, err := range errs {
		if err != nil {
			return acks, publishError(out[i].msg, err)
		}
	}
	return acks, nil
}

func publishError(m *nats.Msg, err error) error {
	return fmt.Errorf("messaging: publish message %s to %q: %w", m.Header.Get(jetstream.MsgIDHeader), m.Subject, err)
}

// ackContext bounds the wait for one ack: nats.go applies no timeout to
// PublishMsgAsync futures unless configured, so a lost ack would block the
// publish forever.
func (p *Publisher) ackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, p.ackTimeout)
}

func (p *Publisher) logPublished(m *nats.Msg, ack *jetstream.PubAck) {
	p.logger.Trace("Message published to JetStream", watermill.LogFields{
		"topic": m.Subject, "message_uuid": m.Header.Get(jetstream.MsgIDHeader),
		"stream": ack.Stream, "stream_seq": ack.Sequence, "duplicate": ack.Duplicate,
	})
}

// Close stops the Publisher: it waits for publishes in flight and makes later
// calls to Publish fail. It does not close or drain the NATS connection, which
// belongs to the caller. Calling Close more than once is safe.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// fallbackAckTimeout bounds the wait for a JetStream ack when neither the
// message context nor the JetStream options give a limit.
const fallbackAckTimeout = 5 * time.Second

// Publisher publishes watermill messages to JetStream. The topic is the NATS
// subject; a stream must already capture it.
//
// Publish returns only after JetStream stored every message. The message UUID
// becomes the Nats-Msg-Id header, so republishing the same message within the
// stream's duplicate window is stored once.
type Publisher struct {
	js         jetstream.JetStream
	logger     watermill.LoggerAdapter
	ackTimeout time.Duration

	// mu is held for reading by every Publish so that Close can wait for
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
	// Same limit nats.go applies to a synchronous publish without a deadline,
	// so single and batched publishes time out alike.
	ackTimeout := js.Options().DefaultTimeout
	if ackTimeout <= 0 {
		ackTimeout = fallbackAckTimeout
	}
	return &Publisher{js: js, logger: logger, ackTimeout: ackTimeout}, nil
}

// Publish sends msgs to the subject topic and waits until JetStream has
// acknowledged (stored) each of them. Each message's Context bounds its
// publish; without a deadline the JetStream default timeout applies.
//
// Several messages are published asynchronously and their acks awaited in
// order; the first failure is returned, wrapped with the topic and message
// UUID. Messages before and after a failed one may still have been stored:
// republishing the whole batch within the stream's duplicate window is safe
// because of Nats-Msg-Id.
//
// Metadata values travel as NATS header values, which nats.go sanitises:
// leading and trailing white space is trimmed and CR or LF become spaces.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("messaging: publish to %q: publisher is closed", topic)
	}

	// Convert everything first so that an invalid message fails the whole
	// call before anything is sent.
	natsMsgs := make([]*natsMsg, len(msgs))
	for i, msg := range msgs {
		nm, err := toNatsMsg(topic, msg)
		if err != nil {
			return fmt.Errorf("messaging: publish to %q: %w", topic, err)
		}
		natsMsgs[i] = nm
	}

	switch len(natsMsgs) {
	case 0:
		return nil
	case 1:
		return p.publishOne(topic, natsMsgs[0])
	default:
		return p.publishMany(topic, natsMsgs)
	}
}

// publishOne publishes a single message synchronously.
func (p *Publisher) publishOne(topic string, nm *natsMsg) error {
	ack, err := p.js.PublishMsg(nm.wm.Context(), nm.msg)
	if err != nil {
		return fmt.Errorf("messaging: publish message %s to %q: %w", nm.wm.UUID, topic, err)
	}
	p.logPublished(topic, nm.wm.UUID, ack)
	return nil
}

// publishMany sends every message before waiting, so a batch costs about
// one round trip instead of one per message.
func (p *Publisher) publishMany(topic string, nms []*natsMsg) error {
	type inFlight struct {
		nm     *natsMsg
		future jetstream.PubAckFuture
		ctx    context.Context
		cancel context.CancelFunc
	}
	errs := make([]error, len(nms))
	sent := make([]inFlight, 0, len(nms))

	for i, nm := range nms {
		ctx, cancel := p.ackContext(nm.wm.Context())
		if err := ctx.Err(); err != nil {
			cancel()
			errs[i] = err
			break
		}
		future, err := p.js.PublishMsgAsync(nm.msg)
		if err != nil {
			cancel()
			errs[i] = err
			// Stop sending: the rest would most likely fail the same way
			// (stalled, disconnected) and the caller retries the batch.
			break
		}
		sent = append(sent, inFlight{nm: nm, future: future, ctx: ctx, cancel: cancel})
	}

	// Wait for every message sent, even after a failure, so that nothing of
	// this call is still in flight when it returns.
	for i, f := range sent {
		var err error
		select {
		case ack := <-f.future.Ok():
			p.logPublished(topic, f.nm.wm.UUID, ack)
		case err = <-f.future.Err():
		case <-f.ctx.Done():
			err = fmt.Errorf("waiting for ack: %w", f.ctx.Err())
		}
		f.cancel()
		if err != nil {
			errs[i] = err
		}
	}

	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("messaging: publish message %s to %q: %w", nms[i].wm.UUID, topic, err)
		}
	}
	return nil
}

// ackContext bounds the wait for one async ack: nats.go applies no timeout
// to PublishMsgAsync futures unless configured, so a lost ack would block
// Publish forever.
func (p *Publisher) ackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, p.ackTimeout)
}

func (p *Publisher) logPublished(topic, uuid string, ack *jetstream.PubAck) {
	fields := watermill.LogFields{"topic": topic, "message_uuid": uuid}
	if ack != nil {
		fields["stream"] = ack.Stream
		fields["stream_seq"] = ack.Sequence
		fields["duplicate"] = ack.Duplicate
	}
	p.logger.Trace("Message published to JetStream", fields)
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

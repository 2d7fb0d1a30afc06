package messaging

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/fault"
)

// MessageIDPoisonedKey is the metadata key under which a dead letter keeps the id of the
// message it holds: its own Nats-Msg-Id names the entry (see deadLetterID), and a redrive
// sends the message back under the original id. The suffix follows watermill's PoisonQueue
// keys (reason_poisoned, topic_poisoned…), which a redrive strips.
const MessageIDPoisonedKey = "message_id_poisoned"

// deadLetterTries is how often one dead-lettering publishes before the message is nacked: a
// second try with the same entry id covers a lost ack without a second entry.
const deadLetterTries = 2

// errDuplicateDeadLetter is a dead-letter publish that JetStream acknowledged as a duplicate:
// nothing was stored.
var errDuplicateDeadLetter = errors.New("the dead-letter stream acknowledged the entry as a duplicate and stored nothing")

// deadLetterer is the router's dead-letter stage. It replaces watermill's PoisonQueue so
// that a message is counted only once the dead-letter stream has stored it.
type deadLetterer struct {
	pub   *Publisher
	topic string
	count *prometheus.CounterVec // by handler name
	log   *slog.Logger
}

// deadLetterable reports whether err sends its message to the dead letters: it must be
// permanent and not an outage. An error that wraps fault.ErrUnavailable is retried even when
// a handler marked it permanent, because losing the message to the dead letters during an
// outage is the failure this stage exists to prevent.
func deadLetterable(err error) bool {
	return fault.IsPermanent(err) && !errors.Is(err, fault.ErrUnavailable)
}

// middleware publishes a message whose handler failed for good to the dead-letter topic and
// then lets the router ack it. If the publish fails it returns an error, so the router nacks
// the message: it is redelivered after the back-off and dead-lettered then, never acked
// unpublished. A dead-lettered message's output messages are dropped with it.
func (d deadLetterer) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || !deadLetterable(err) {
			return out, err
		}
		handler := message.HandlerNameFromCtx(msg.Context())
		if perr := d.publish(msg, err); perr != nil {
			// The handler's error is kept as text only: the error returned here means
			// "try again later", and must not itself read as permanent.
			return nil, fmt.Errorf("dead-letter message %s (handler error: %v): %w", msg.UUID, err, perr)
		}
		d.count.WithLabelValues(handler).Inc()
		d.log.WarnContext(msg.Context(), "message dead-lettered", "handler", handler,
			"message_uuid", msg.UUID, "topic", message.SubscribeTopicFromCtx(msg.Context()), "err", err)
		return nil, nil
	}
}

// publish sends a copy of msg with the reason and origin in watermill's PoisonQueue metadata
// keys, under an entry id of its own. A copy, so that a failed attempt leaves the message as
// it was delivered.
//
// A duplicate ack on the first try means the stream holds another entry under this id and
// stored nothing: a failure (the message is nacked), never a silent ack. A duplicate on a
// later try is this dead-lettering's own earlier try, stored with its ack lost.
func (d deadLetterer) publish(msg *message.Message, reason error) error {
	ctx := msg.Context()
	dl := msg.Copy()
	dl.UUID = deadLetterID(msg)
	dl.SetContext(ctx)
	dl.Metadata.Set(MessageIDPoisonedKey, msg.UUID)
	dl.Metadata.Set(middleware.ReasonForPoisonedKey, reason.Error())
	dl.Metadata.Set(middleware.PoisonedTopicKey, message.SubscribeTopicFromCtx(ctx))
	dl.Metadata.Set(middleware.PoisonedHandlerKey, message.HandlerNameFromCtx(ctx))
	dl.Metadata.Set(middleware.PoisonedSubscriberKey, message.SubscriberNameFromCtx(ctx))
	var err error
	for try := 1; try <= deadLetterTries; try++ {
		var acks []*jetstream.PubAck
		acks, err = d.pub.publishAcked(d.topic, dl)
		switch {
		case err != nil:
			continue
		case !acks[0].Duplicate || try > 1:
			return nil
		default:
			return fmt.Errorf("publish to %q: entry %s: %w (stream sequence %d)", d.topic, dl.UUID, errDuplicateDeadLetter, acks[0].Sequence)
		}
	}
	return fmt.Errorf("publish to %q: %w", d.topic, err)
}

// deadLetterID names one dead-lettering: the message, the handler that gave up on it, and the
// delivery it gave up on (stream, stream sequence, attempt). Two handlers giving up on one
// event, or a redriven message (stored again, at a new sequence) given up on again, make
// distinct entries. It is deterministic, so that publishing the same entry again is
// deduplicated by the stream.
func deadLetterID(msg *message.Message) string {
	ctx := msg.Context()
	d, _ := deliveryOf(ctx) // zero outside a Subscriber: message and handler still tell apart
	return fmt.Sprintf("%s/dl/%s/%s/%d/%d", msg.UUID, message.HandlerNameFromCtx(ctx), d.stream, d.seq, d.attempt)
}

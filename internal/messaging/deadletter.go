package messaging

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/fault"
)

// deadLetterer is the router's dead-letter stage. It replaces watermill's PoisonQueue so
// that a message is counted only once the dead-letter stream has stored it.
type deadLetterer struct {
	pub   message.Publisher
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
// keys. A copy, so that a failed attempt leaves the message as it was delivered. It keeps the
// UUID, so the dead-letter stream deduplicates a message dead-lettered twice (its ack lost).
func (d deadLetterer) publish(msg *message.Message, reason error) error {
	dl := msg.Copy()
	dl.SetContext(msg.Context())
	dl.Metadata.Set(middleware.ReasonForPoisonedKey, reason.Error())
	dl.Metadata.Set(middleware.PoisonedTopicKey, message.SubscribeTopicFromCtx(msg.Context()))
	dl.Metadata.Set(middleware.PoisonedHandlerKey, message.HandlerNameFromCtx(msg.Context()))
	dl.Metadata.Set(middleware.PoisonedSubscriberKey, message.SubscriberNameFromCtx(msg.Context()))
	if err := d.pub.Publish(d.topic, dl); err != nil {
		return fmt.Errorf("publish to %q: %w", d.topic, err)
	}
	return nil
}

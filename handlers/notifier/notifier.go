// Package notifier holds the notifier worker's handler: every order event records the
// webhook deliveries the order's storefront is owed, in PostgreSQL, for the dispatcher
// (internal/webhooks) to send. Recording never waits on a receiver, so a slow or dead
// endpoint never holds up the event stream or the order pipeline.
package notifier

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/webhook"
	"github.com/shopflow/orders/events"
)

// Recorder records the deliveries owed for an order's changes since the last recorded, in one
// transaction with the delivery's inbox row (postgres.Store.RecordWebhooks).
type Recorder interface {
	RecordWebhooks(ctx context.Context, d events.Delivery, orderID string,
		plan func(o *order.Order, after int, subs []webhook.Subscription) ([]webhook.Planned, error)) (int, error)
}

// Handler handles every order event for the notifier.
type Handler struct {
	rec    Recorder
	render func(*order.Order) ([]byte, error)
	log    *slog.Logger
}

// NewHandler returns the handler; render gives an order as GET /v1/orders/{id} answers it.
func NewHandler(rec Recorder, render func(*order.Order) ([]byte, error), log *slog.Logger) (*Handler, error) {
	if rec == nil || render == nil || log == nil {
		return nil, errors.New("notifier: NewHandler needs a recorder, a renderer and a logger")
	}
	return &Handler{rec: rec, render: render, log: log}, nil
}

// Event records what the message's order owes its storefront's endpoints. The message says
// which order changed; the order's history says what to announce, in version order, so a
// message handled before an earlier one of the same order still announces both in order.
func (h *Handler) Event(msg *message.Message) error {
	env, err := events.ParseEnvelope(msg.UUID, msg.Metadata, msg.Payload)
	if err != nil {
		return fault.Permanent(err)
	}
	if _, ok := events.StatusSetBy(env.Name); !ok {
		return nil // an event that changes no status announces nothing
	}
	plan := func(o *order.Order, after int, subs []webhook.Subscription) ([]webhook.Planned, error) {
		return webhook.Plan(o, after, subs, h.render)
	}
	n, err := h.rec.RecordWebhooks(msg.Context(), events.Delivered(events.ConsumerNotifierWebhooks, env), env.OrderID, plan)
	if errors.Is(err, order.ErrNotFound) {
		// Events leave only after their order is committed: a missing order is a broken
		// message, not a race.
		return fault.Permanent(err)
	}
	if err != nil {
		return err
	}
	if n > 0 {
		h.log.DebugContext(msg.Context(), "webhook deliveries recorded", "order_id", env.OrderID, "deliveries", n)
	}
	return nil
}

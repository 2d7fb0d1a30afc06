// Package inventory holds the inventory worker's message handler: it hands placed orders to
// the saga's intake, which holds their stock or rejects them.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// Saga is the use cases the handler calls; see saga.Service.
type Saga interface {
	Place(ctx context.Context, d events.Delivery, p order.PlaceParams) error
	Refuse(ctx context.Context, d events.Delivery, p order.PlaceParams, why string) (recorded bool, err error)
}

// Handler handles order.place.v1.
type Handler struct {
	saga Saga
	log  *slog.Logger
}

// NewHandler returns the handler.
func NewHandler(saga Saga, log *slog.Logger) (*Handler, error) {
	if saga == nil || log == nil {
		return nil, errors.New("inventory: NewHandler needs a saga and a logger")
	}
	return &Handler{saga: saga, log: log}, nil
}

// PlaceOrder takes the order in: reserved, or rejected for want of stock. Every command was
// answered with a 202, so its order must settle whatever happens:
//   - A command applied before is acknowledged, even if today's rules would refuse it (the
//     store sees the inbox row before the rules).
//   - A command that no retry can fix (unreadable, or breaking the rules) is recorded as a
//     rejected order with the reason, for the storefront the payload names (as far as it can
//     be read), then dead-lettered for an operator to look at.
//   - Anything else is an outage of the database, whatever PostgreSQL called it: retried
//     without limit (fault.ErrUnavailable), never dead-lettered.
func (h *Handler) PlaceOrder(msg *message.Message) error {
	ctx := msg.Context()
	env, err := events.ParseEnvelope(msg.UUID, msg.Metadata, msg.Payload)
	if err != nil {
		id := msg.Metadata.Get(events.MetaOrderID)
		if msg.UUID == "" || !events.ValidID(id) {
			return fault.Permanent(err) // no order to settle, or no inbox key: dead letter only
		}
		d := events.Delivery{Consumer: events.ConsumerInventoryPlaceOrder, MessageID: msg.UUID,
			CorrelationID: msg.Metadata.Get(events.MetaCorrelationID)}
		return h.refuse(ctx, d, events.SalvagePlaceOrder(id, msg.Payload), err)
	}
	d := events.Delivered(events.ConsumerInventoryPlaceOrder, env)
	params, err := events.DecodePlaceOrder(env)
	if err != nil {
		return h.refuse(ctx, d, events.SalvagePlaceOrder(env.OrderID, env.Payload), err)
	}
	err = h.saga.Place(ctx, d, params)
	switch {
	case err == nil || errors.Is(err, fault.ErrUnavailable):
		return err
	case errors.Is(err, order.ErrInvalid):
		return h.refuse(ctx, d, params, err)
	default:
		h.log.ErrorContext(ctx, "intake failed; retrying as an outage", "order_id", params.ID,
			"correlation_id", env.CorrelationID, "err", err)
		return fmt.Errorf("%w: %w", fault.ErrUnavailable, err)
	}
}

// refuse settles the order of a command that can never be taken in, then dead-letters the
// command; a command refused before is acknowledged.
func (h *Handler) refuse(ctx context.Context, d events.Delivery, p order.PlaceParams, why error) error {
	recorded, err := h.saga.Refuse(ctx, d, p, why.Error())
	if err != nil {
		return fmt.Errorf("record refused order %s: %w", p.ID, err)
	}
	if !recorded {
		return nil
	}
	h.log.WarnContext(ctx, "invalid order command rejected and dead-lettered", "order_id", p.ID,
		"correlation_id", d.CorrelationID, "err", why)
	return fault.Permanent(fmt.Errorf("order %s: %w", p.ID, why))
}

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

// Saga is the use case the handler calls; see saga.Service.Place.
type Saga interface {
	Place(ctx context.Context, d events.Delivery, p order.PlaceParams) error
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

// PlaceOrder creates the order and reserves its stock, or rejects it. A message that cannot
// be decoded or holds an invalid order returns a permanent error (dead-lettered); a database
// failure returns a plain error (retried with back-off).
func (h *Handler) PlaceOrder(msg *message.Message) error {
	env, err := events.ParseEnvelope(msg.UUID, msg.Metadata, msg.Payload)
	if err != nil {
		return fault.Permanent(err)
	}
	params, err := events.DecodePlaceOrder(env)
	if err != nil {
		return fault.Permanent(err)
	}
	if err := order.Validate(params); err != nil {
		h.log.WarnContext(msg.Context(), "invalid order command dead-lettered", "order_id", params.ID,
			"correlation_id", env.CorrelationID, "err", err)
		return fault.Permanent(fmt.Errorf("order %s: %w", params.ID, err))
	}
	return h.saga.Place(msg.Context(), events.Delivered(events.ConsumerInventoryPlaceOrder, env), params)
}

// Package inventory holds the inventory worker's message handlers: it takes in placed orders
// and holds their stock.
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
	"github.com/shopflow/orders/handlers/orderstats"
)

// Store applies a PlaceOrder command in one transaction (inbox, order, reservation, outbox).
// It returns the order's last change, or duplicate when the message was applied before.
type Store interface {
	PlaceOrder(ctx context.Context, consumer, messageID string, p order.PlaceParams, correlationID string) (order.Change, bool, error)
}

// Handler handles order.place.v1.
type Handler struct {
	store Store
	log   *slog.Logger
	stats *orderstats.Stats
}

// NewHandler returns the handler; stats is shared by every worker in the process.
func NewHandler(store Store, log *slog.Logger, stats *orderstats.Stats) (*Handler, error) {
	if store == nil || log == nil || stats == nil {
		return nil, errors.New("inventory: NewHandler needs a store, a logger and stats")
	}
	return &Handler{store: store, log: log, stats: stats}, nil
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
	log := h.log.With("order_id", params.ID, "correlation_id", env.CorrelationID)
	if err := order.Validate(params); err != nil {
		log.WarnContext(msg.Context(), "invalid order command dead-lettered", "err", err)
		return fault.Permanent(fmt.Errorf("order %s: %w", params.ID, err))
	}
	last, dup, err := h.store.PlaceOrder(msg.Context(), events.ConsumerInventoryPlaceOrder, env.ID, params, env.CorrelationID)
	if err != nil {
		return err
	}
	if dup {
		h.stats.Duplicate(events.ConsumerInventoryPlaceOrder)
		log.DebugContext(msg.Context(), "duplicate place order acknowledged")
		return nil
	}
	h.stats.Placed(last, params.AcceptedAt)
	log.InfoContext(msg.Context(), "order placed", "status", last.Status, "reason", last.Reason)
	return nil
}

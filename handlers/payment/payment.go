// Package payment holds the payment worker's message handlers: they decode the events and
// commands that drive an order's payment and hand them to the saga's use cases (authorize,
// capture, cancel).
package payment

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

// Saga is the use cases the handlers call; see saga.Service.
type Saga interface {
	Authorize(ctx context.Context, d events.Delivery, id string) error
	Capture(ctx context.Context, d events.Delivery, id string) error
	Cancel(ctx context.Context, d events.Delivery, id, reason string) error
	Park(ctx context.Context, d events.Delivery, id, reason string) error
}

// Handler is the payment worker's message handlers.
type Handler struct {
	saga Saga
	log  *slog.Logger
	// final reports whether a message is on its last allowed delivery (messaging.FinalAttempt).
	final func(context.Context) bool
}

// NewHandler returns the handlers; none of the dependencies may be nil.
func NewHandler(saga Saga, log *slog.Logger, final func(context.Context) bool) (*Handler, error) {
	if saga == nil || log == nil || final == nil {
		return nil, errors.New("payment: NewHandler needs every dependency")
	}
	return &Handler{saga: saga, log: log, final: final}, nil
}

// StockReserved authorizes a reserved order (stock.reserved.v1).
func (h *Handler) StockReserved(msg *message.Message) error {
	env, id, err := orderEvent(msg, events.NameStockReserved)
	if err != nil {
		return err
	}
	return h.saga.Authorize(msg.Context(), events.Delivered(events.ConsumerPaymentStockReserved, env), id)
}

// PaymentAuthorized captures an authorized order (payment.authorized.v1) and confirms it.
func (h *Handler) PaymentAuthorized(msg *message.Message) error {
	env, id, err := orderEvent(msg, events.NamePaymentAuthorized)
	if err != nil {
		return err
	}
	return h.saga.Capture(msg.Context(), events.Delivered(events.ConsumerPaymentAuthorized, env), id)
}

// orderEvent decodes an order event of the given name; what cannot be decoded is permanent.
func orderEvent(msg *message.Message, name string) (events.Envelope, string, error) {
	env, err := events.ParseEnvelope(msg.UUID, msg.Metadata, msg.Payload)
	if err != nil {
		return events.Envelope{}, "", fault.Permanent(err)
	}
	id, err := events.DecodeOrderEvent(env, name)
	if err != nil {
		return events.Envelope{}, "", fault.Permanent(err)
	}
	return env, id, nil
}

// CancelOrder carries out a cancel request (order.cancel.v1). A compensation that keeps
// failing until the last delivery parks the order in needs_attention and dead-letters the
// command. An outage (fault.ErrUnavailable) is retried for as long as it lasts: it says
// nothing about the compensation itself. So is a cancel for an order the intake has not taken
// in yet (the API accepts those): it applies once the order exists.
func (h *Handler) CancelOrder(msg *message.Message) error {
	env, err := events.ParseEnvelope(msg.UUID, msg.Metadata, msg.Payload)
	if err != nil {
		return fault.Permanent(err)
	}
	cmd, err := events.DecodeCancelOrder(env)
	if err != nil {
		return fault.Permanent(err)
	}
	ctx := msg.Context()
	err = h.saga.Cancel(ctx, events.Delivered(events.ConsumerPaymentCancelOrder, env), cmd.OrderID, cmd.Reason)
	if errors.Is(err, order.ErrNotFound) {
		// The API accepts a cancel for an order it accepted and the intake has not taken in
		// yet: wait for the order like for an outage (retried, never dead-lettered).
		return fmt.Errorf("%w: cancel %s: not taken in yet: %w", fault.ErrUnavailable, cmd.OrderID, order.ErrNotFound)
	}
	if err == nil || fault.IsPermanent(err) || errors.Is(err, fault.ErrUnavailable) || !h.final(ctx) {
		return err
	}
	flagErr := h.saga.Park(ctx, events.Unsolicited(env.CorrelationID), cmd.OrderID, "cancel_compensation_failed")
	h.log.ErrorContext(ctx, "cancel kept failing: order needs attention", "order_id", cmd.OrderID,
		"correlation_id", env.CorrelationID, "err", err, "flag_err", flagErr)
	return fault.Permanent(errors.Join(err, flagErr))
}

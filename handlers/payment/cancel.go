package payment

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
)

// CancelOrder carries out a cancel request (order.cancel.v1): a pending or reserved order is
// released, an authorized one voided and released, a confirmed one refunded and restocked, a
// settled one left alone. A compensation that keeps failing until the last delivery parks the
// order in needs_attention and dead-letters the command.
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
	err = h.run(ctx, events.ConsumerPaymentCancelOrder, env.ID, env.CorrelationID, cmd.OrderID, func(ctx context.Context, o *order.Order) error {
		return h.cancel(ctx, o, cmd.Reason)
	})
	// An outage (fault.ErrUnavailable) is retried for as long as it lasts: it says nothing
	// about the compensation itself.
	if err == nil || fault.IsPermanent(err) || errors.Is(err, fault.ErrUnavailable) || !h.final(ctx) {
		return err
	}
	flagErr := h.run(ctx, "", "", env.CorrelationID, cmd.OrderID, func(_ context.Context, o *order.Order) error {
		if o.Status().Settled() {
			return nil
		}
		return o.FlagForAttention("cancel_compensation_failed", h.now())
	})
	h.log.ErrorContext(ctx, "cancel kept failing: order needs attention", "order_id", cmd.OrderID,
		"correlation_id", env.CorrelationID, "err", err, "flag_err", flagErr)
	return fault.Permanent(errors.Join(err, flagErr))
}

// Resolve settles an order parked in needs_attention once an operator fixed what made its
// compensation fail: it resumes the status the order was parked from and runs the cancellation
// that status calls for (release; void and release; refund and restock).
func (h *Handler) Resolve(ctx context.Context, id string) error {
	err := h.run(ctx, "", "", "operator", id, func(ctx context.Context, o *order.Order) error {
		if err := o.Resume(h.now()); err != nil {
			return err
		}
		return h.cancel(ctx, o, "resolved_by_operator")
	})
	if err != nil {
		return fmt.Errorf("resolve order %s: %w", id, err)
	}
	return nil
}

func (h *Handler) cancel(ctx context.Context, o *order.Order, reason string) error {
	switch o.Status() {
	case order.StatusPending, order.StatusReserved:
		if err := h.voidStrayAuthorization(ctx, o); err != nil {
			return err
		}
		return o.Cancel(reason, h.now())
	case order.StatusAuthorized:
		err := h.void(ctx, o.ID(), authorizationOf(o))
		if errors.Is(err, payment.ErrAlreadyCaptured) {
			// A capture reached the gateway and its step never committed: the money was taken.
			// Record the capture, then refund it and restock, as for a confirmed order.
			if err := o.Confirm(h.now()); err != nil {
				return err
			}
			return h.refund(ctx, o, reason)
		}
		if err != nil {
			return err
		}
		return o.Cancel(reason, h.now())
	case order.StatusConfirmed:
		return h.refund(ctx, o, reason)
	default:
		return nil // settled meanwhile: the API answered 409 to later requests
	}
}

// voidStrayAuthorization voids a hold that an authorize step made and could not commit (it
// failed or died after the gateway call): the order still reads reserved, the gateway does not.
func (h *Handler) voidStrayAuthorization(ctx context.Context, o *order.Order) error {
	auth, err := h.gw.Find(ctx, payment.IdempotencyKey(o.ID(), payment.OpAuthorize), o.ID())
	if errors.Is(err, payment.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up authorization of %s: %w", o.ID(), err)
	}
	return h.void(ctx, o.ID(), auth)
}

func (h *Handler) refund(ctx context.Context, o *order.Order, reason string) error {
	if err := h.gw.Refund(ctx, payment.IdempotencyKey(o.ID(), payment.OpRefund), authorizationOf(o)); err != nil {
		return fmt.Errorf("refund %s: %w", o.ID(), err)
	}
	return o.Refund(reason, h.now())
}

// void releases a hold; one already voided (declined again) is fine. A hold that was captured
// is not: that returns an error wrapping payment.ErrAlreadyCaptured.
func (h *Handler) void(ctx context.Context, orderID string, auth payment.Authorization) error {
	err := h.gw.Void(ctx, payment.IdempotencyKey(orderID, payment.OpVoid), auth)
	if err != nil && (errors.Is(err, payment.ErrAlreadyCaptured) || !errors.Is(err, payment.ErrDeclined)) {
		return fmt.Errorf("void %s: %w", orderID, err)
	}
	return nil
}

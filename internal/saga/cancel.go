package saga

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
)

// Cancel carries out a cancel request: a pending or reserved order is released, an authorized
// one voided and released, a confirmed one refunded and restocked, a settled one left alone.
func (s *Service) Cancel(ctx context.Context, d events.Delivery, id, reason string) error {
	return s.step(ctx, d, id, func(ctx context.Context, o *order.Order) error {
		return s.cancel(ctx, o, reason)
	})
}

// Expire settles a reserved order whose reservation outlived its TTL, voiding first any hold
// an authorize step made and could not record. An order no longer reserved is left alone.
func (s *Service) Expire(ctx context.Context, d events.Delivery, id string) error {
	return s.step(ctx, d, id, func(ctx context.Context, o *order.Order) error {
		if o.Status() != order.StatusReserved {
			return nil
		}
		refunded, err := s.voidStrayAuthorization(ctx, o, "reservation_ttl_passed")
		if err != nil || refunded {
			return err
		}
		return o.Expire(s.now())
	})
}

// Park flags an order whose compensation keeps failing for an operator (needs_attention),
// unless it settled meanwhile.
func (s *Service) Park(ctx context.Context, d events.Delivery, id, reason string) error {
	return s.step(ctx, d, id, func(_ context.Context, o *order.Order) error {
		if o.Status().Settled() {
			return nil
		}
		return o.FlagForAttention(reason, s.now())
	})
}

// Resolve settles an order parked in needs_attention once an operator fixed what made its
// compensation fail: it resumes the status the order was parked from and runs the cancellation
// that status calls for (release; void and release; refund and restock).
func (s *Service) Resolve(ctx context.Context, id string) error {
	err := s.step(ctx, events.Unsolicited("operator"), id, func(ctx context.Context, o *order.Order) error {
		if err := o.Resume(s.now()); err != nil {
			return err
		}
		return s.cancel(ctx, o, "resolved_by_operator")
	})
	if err != nil {
		return fmt.Errorf("resolve order %s: %w", id, err)
	}
	return nil
}

func (s *Service) cancel(ctx context.Context, o *order.Order, reason string) error {
	switch o.Status() {
	case order.StatusPending, order.StatusReserved:
		refunded, err := s.voidStrayAuthorization(ctx, o, reason)
		if err != nil || refunded {
			return err
		}
		return o.Cancel(reason, s.now())
	case order.StatusAuthorized:
		err := s.void(ctx, o.ID(), authorizationOf(o))
		if errors.Is(err, payment.ErrAlreadyCaptured) {
			// A capture reached the gateway and its step never committed: the money was taken.
			// Record the capture, then refund it and restock, as for a confirmed order.
			if err := o.Confirm(s.now()); err != nil {
				return err
			}
			return s.refund(ctx, o, reason)
		}
		if err != nil {
			return err
		}
		return o.Cancel(reason, s.now())
	case order.StatusConfirmed:
		return s.refund(ctx, o, reason)
	default:
		return nil // settled meanwhile: the API answered 409 to later requests
	}
}

// voidStrayAuthorization voids a hold that an authorize step made and could not commit (it
// failed or died after the gateway call): the order still reads reserved, the gateway does not.
// Abandon spends the authorize key, so a late authorize holds nothing, and never answers "no
// hold" on a guess (a lagging search): when unsure it fails transiently and the step is
// retried, so an order is never released while a hold may stand.
//
// An authorize step that captures too (WithCaptureOnAuthorize) may have died after the
// capture: that hold cannot be voided, the money was taken. Then the order records the
// authorization and the capture it missed and is refunded (for reason) and restocked, and
// refunded is true; the caller must not release it again.
func (s *Service) voidStrayAuthorization(ctx context.Context, o *order.Order, reason string) (refunded bool, err error) {
	auth, err := s.gw.Abandon(ctx, payment.AuthorizeRequest{
		IdempotencyKey: payment.IdempotencyKey(o.ID(), payment.OpAuthorize), OrderID: o.ID(),
		Amount: o.Total(), Currency: o.Currency(), Token: o.PaymentToken(),
	})
	if errors.Is(err, payment.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, gatewayError("look up the authorization of", o.ID(), err)
	}
	err = s.void(ctx, o.ID(), auth)
	if !errors.Is(err, payment.ErrAlreadyCaptured) {
		return false, err
	}
	if err := o.Authorize(auth.ID, s.now()); err != nil {
		return false, err
	}
	if err := o.Confirm(s.now()); err != nil {
		return false, err
	}
	return true, s.refund(ctx, o, reason)
}

func (s *Service) refund(ctx context.Context, o *order.Order, reason string) error {
	if err := s.gw.Refund(ctx, payment.IdempotencyKey(o.ID(), payment.OpRefund), authorizationOf(o)); err != nil {
		return gatewayError("refund", o.ID(), err)
	}
	return o.Refund(reason, s.now())
}

// void releases a hold; one already voided (declined again) is fine. A hold that was captured
// is not: that returns an error wrapping payment.ErrAlreadyCaptured.
func (s *Service) void(ctx context.Context, orderID string, auth payment.Authorization) error {
	err := s.gw.Void(ctx, payment.IdempotencyKey(orderID, payment.OpVoid), auth)
	if err != nil && (errors.Is(err, payment.ErrAlreadyCaptured) || !errors.Is(err, payment.ErrDeclined)) {
		return gatewayError("void", orderID, err)
	}
	return nil
}

package saga

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
)

// Authorize asks the gateway to hold the total of a reserved order. A decline cancels the
// order and releases its stock; a transient failure is returned (retried with back-off); an
// unknown outcome is settled by asking the gateway. An order no longer reserved (cancelled
// or expired meanwhile) is left alone: there is nothing to charge.
//
// WithCaptureOnAuthorize, once the hold is there, the same step captures it (issue 12): the
// order records both states and both events, and settles in one step and one commit instead
// of two. A capture that cannot finish now (a transient failure, an unknown outcome, a void
// after a declined capture that failed) leaves the order authorized, committed, and the
// capture step (payment.authorized) finishes it as it always did.
func (s *Service) Authorize(ctx context.Context, d events.Delivery, id string) error {
	return s.step(ctx, d, id, func(ctx context.Context, o *order.Order) error {
		if o.Status() != order.StatusReserved {
			return nil
		}
		if err := s.authorize(ctx, o); err != nil || !s.captureOnAuthorize || o.Status() != order.StatusAuthorized {
			return err
		}
		if err := s.capture(ctx, o); err != nil {
			s.log.InfoContext(ctx, "capture left to its own step", "order_id", o.ID(), "err", err)
		}
		return nil
	})
}

// Capture captures an authorized order and confirms it; a declined capture voids the
// authorization and cancels the order. An order no longer authorized is left alone, and
// costs one read and no transaction: Authorize usually captured it already, and a status
// never moves back to authorized, so a read that sees it past is final.
func (s *Service) Capture(ctx context.Context, d events.Delivery, id string) error {
	if st, err := s.store.OrderStatus(ctx, id); err == nil && st != order.StatusAuthorized {
		return nil
	}
	return s.step(ctx, d, id, func(ctx context.Context, o *order.Order) error {
		if o.Status() != order.StatusAuthorized {
			return nil
		}
		return s.capture(ctx, o)
	})
}

func (s *Service) authorize(ctx context.Context, o *order.Order) error {
	key := payment.IdempotencyKey(o.ID(), payment.OpAuthorize)
	auth, err := s.gw.Authorize(ctx, payment.AuthorizeRequest{
		IdempotencyKey: key, OrderID: o.ID(), Amount: o.Total(), Currency: o.Currency(), Token: o.PaymentToken(),
	})
	if errors.Is(err, payment.ErrUnknownOutcome) {
		// Never charge again blindly: ask the gateway what the first call did.
		auth, err = s.gw.Find(ctx, key, o.ID())
		if errors.Is(err, payment.ErrNotFound) {
			err = fmt.Errorf("authorize %s: outcome unknown and the gateway holds none: %w", o.ID(), payment.ErrTransient)
		}
	}
	var decline *payment.DeclineError
	if errors.As(err, &decline) {
		return o.Cancel(payment.DeclineReason(payment.OpAuthorize, decline.Reason), s.now())
	}
	if err != nil {
		return gatewayError("authorize", o.ID(), err)
	}
	return o.Authorize(auth.ID, s.now())
}

func (s *Service) capture(ctx context.Context, o *order.Order) error {
	auth := authorizationOf(o)
	err := s.gw.Capture(ctx, payment.IdempotencyKey(o.ID(), payment.OpCapture), auth)
	var decline *payment.DeclineError
	if errors.As(err, &decline) {
		if err := s.void(ctx, o.ID(), auth); err != nil {
			return fmt.Errorf("after a declined capture: %w", err)
		}
		return o.Cancel(payment.DeclineReason(payment.OpCapture, decline.Reason), s.now())
	}
	if err != nil {
		return gatewayError("capture", o.ID(), err)
	}
	return o.Confirm(s.now())
}

func authorizationOf(o *order.Order) payment.Authorization {
	return payment.Authorization{ID: o.AuthorizationID(), Amount: o.Total(), Currency: o.Currency()}
}

// gatewayError wraps a failed gateway call. A transient failure or an unknown outcome is an
// outage of the gateway (fault.ErrUnavailable): the step is retried with back-off for as long
// as it lasts, never given up on, so a sellable order is not parked for a gateway's bad
// minutes. needs_attention is for compensations that cannot succeed.
func gatewayError(op, orderID string, err error) error {
	if errors.Is(err, payment.ErrTransient) || errors.Is(err, payment.ErrUnknownOutcome) {
		return fmt.Errorf("%w: %s %s: %w", fault.ErrUnavailable, op, orderID, err)
	}
	return fmt.Errorf("%s %s: %w", op, orderID, err)
}

// Package payment holds the payment worker: it authorizes reserved orders, captures
// authorized ones, carries out cancel requests (release, void, refund), and sweeps orders
// whose reservation outlived its TTL or that rest too long in an intermediate status.
package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/orderstats"
)

// Store runs one saga step on a locked order in one transaction, with an inbox row for
// messageID (none when it is empty); see postgres.Store.UpdateOrder.
type Store interface {
	UpdateOrder(ctx context.Context, consumer, messageID, correlationID, id string, fn func(*order.Order) error) (duplicate bool, err error)
}

// Handler is the payment worker's message handlers.
type Handler struct {
	store Store
	gw    payment.Gateway
	log   *slog.Logger
	stats *orderstats.Stats
	now   func() time.Time
	// final reports whether a message is on its last allowed delivery (messaging.Delivery).
	final func(context.Context) bool
}

// NewHandler returns the handlers; none of the dependencies may be nil.
func NewHandler(store Store, gw payment.Gateway, log *slog.Logger, stats *orderstats.Stats, now func() time.Time, final func(context.Context) bool) (*Handler, error) {
	if store == nil || gw == nil || log == nil || stats == nil || now == nil || final == nil {
		return nil, errors.New("payment: NewHandler needs every dependency")
	}
	return &Handler{store: store, gw: gw, log: log, stats: stats, now: now, final: final}, nil
}

// StockReserved authorizes a reserved order (stock.reserved.v1). A decline cancels the order
// and releases its stock; a transient failure is retried with back-off; an unknown outcome is
// settled by asking the gateway.
func (h *Handler) StockReserved(msg *message.Message) error {
	return h.step(msg, events.NameStockReserved, events.ConsumerPaymentStockReserved, func(ctx context.Context, o *order.Order) error {
		if o.Status() != order.StatusReserved {
			return nil // cancelled or expired meanwhile: nothing to charge
		}
		return h.authorize(ctx, o)
	})
}

// PaymentAuthorized captures an authorized order (payment.authorized.v1) and confirms it; a
// declined capture voids the authorization and cancels the order.
func (h *Handler) PaymentAuthorized(msg *message.Message) error {
	return h.step(msg, events.NamePaymentAuthorized, events.ConsumerPaymentAuthorized, func(ctx context.Context, o *order.Order) error {
		if o.Status() != order.StatusAuthorized {
			return nil
		}
		return h.capture(ctx, o)
	})
}

// step decodes an order event and runs fn on the locked order.
func (h *Handler) step(msg *message.Message, name, consumer string, fn func(context.Context, *order.Order) error) error {
	env, err := events.ParseEnvelope(msg.UUID, msg.Metadata, msg.Payload)
	if err != nil {
		return fault.Permanent(err)
	}
	id, err := events.DecodeOrderEvent(env, name)
	if err != nil {
		return fault.Permanent(err)
	}
	return h.run(msg.Context(), consumer, env.ID, env.CorrelationID, id, fn)
}

// run applies fn to order id in one transaction and records the transitions it made.
func (h *Handler) run(ctx context.Context, consumer, messageID, correlationID, id string, fn func(context.Context, *order.Order) error) error {
	var changed *order.Order
	var before int
	dup, err := h.store.UpdateOrder(ctx, consumer, messageID, correlationID, id, func(o *order.Order) error {
		changed, before = o, o.Version()
		return fn(ctx, o)
	})
	switch {
	case errors.Is(err, order.ErrNotFound):
		return fault.Permanent(err) // an event or command about an order that does not exist
	case err != nil:
		return err
	case dup:
		h.stats.Duplicate(consumer)
		return nil
	}
	h.stats.Changes(changed, before)
	if changed.Version() > before {
		h.log.InfoContext(ctx, "order changed", "order_id", id, "correlation_id", correlationID,
			"status", changed.Status(), "reason", lastReason(changed))
	}
	return nil
}

func (h *Handler) authorize(ctx context.Context, o *order.Order) error {
	key := payment.IdempotencyKey(o.ID(), payment.OpAuthorize)
	auth, err := h.gw.Authorize(ctx, payment.AuthorizeRequest{
		IdempotencyKey: key, OrderID: o.ID(), Amount: o.Total(), Currency: o.Currency(), Token: o.PaymentToken(),
	})
	if errors.Is(err, payment.ErrUnknownOutcome) {
		// Never charge again blindly: ask the gateway what the first call did.
		auth, err = h.gw.Find(ctx, key, o.ID())
		if errors.Is(err, payment.ErrNotFound) {
			err = fmt.Errorf("authorize %s: outcome unknown and the gateway holds none: %w", o.ID(), payment.ErrTransient)
		}
	}
	var decline *payment.DeclineError
	if errors.As(err, &decline) {
		return o.Cancel(payment.DeclineReason(payment.OpAuthorize, decline.Reason), h.now())
	}
	if err != nil {
		return fmt.Errorf("authorize %s: %w", o.ID(), err)
	}
	return o.Authorize(auth.ID, h.now())
}

func (h *Handler) capture(ctx context.Context, o *order.Order) error {
	auth := authorizationOf(o)
	err := h.gw.Capture(ctx, payment.IdempotencyKey(o.ID(), payment.OpCapture), auth)
	var decline *payment.DeclineError
	if errors.As(err, &decline) {
		if err := h.void(ctx, o.ID(), auth); err != nil {
			return fmt.Errorf("after a declined capture: %w", err)
		}
		return o.Cancel(payment.DeclineReason(payment.OpCapture, decline.Reason), h.now())
	}
	if err != nil {
		return fmt.Errorf("capture %s: %w", o.ID(), err)
	}
	return o.Confirm(h.now())
}

func authorizationOf(o *order.Order) payment.Authorization {
	return payment.Authorization{ID: o.AuthorizationID(), Amount: o.Total(), Currency: o.Currency()}
}

func lastReason(o *order.Order) string {
	h := o.History()
	return h[len(h)-1].Reason
}

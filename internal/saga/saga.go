// Package saga holds the order saga's use cases: take a placed order in (reserve or reject),
// authorize, capture, cancel, expire, park and resolve. Each loads the order through the store,
// lets the domain decide, and saves; the store commits the steps that arrive together in one
// transaction (postgres.Store's group commit), each step all or nothing. The transports call them:
// the Watermill handlers of handlers/inventory and handlers/payment, the sweeper of
// internal/jobs, and the operator commands of cmd/orders.
package saga

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
)

// Store runs a use case's step all or nothing (in a group commit with the steps beside it),
// with an inbox row for the delivery's message (none for a delivery without one); see postgres.Store.
type Store interface {
	// TakeIn creates the order p describes, tries to hold its stock and lets decide choose
	// its first step from what is missing ("" when everything is held).
	TakeIn(ctx context.Context, d events.Delivery, p order.PlaceParams, decide func(o *order.Order, missing string) error) (taken *order.Order, duplicate bool, err error)
	// Refuse records an order refused at intake, or returns duplicate.
	Refuse(ctx context.Context, d events.Delivery, o *order.Order) (duplicate bool, err error)
	// UpdateOrder locks and loads order id and lets fn change it.
	UpdateOrder(ctx context.Context, d events.Delivery, id string, fn func(*order.Order) error) (duplicate bool, err error)
	// OrderStatus reads order id's status, without a transaction.
	OrderStatus(ctx context.Context, id string) (order.Status, error)
}

// Service runs the use cases.
type Service struct {
	store Store
	gw    payment.Gateway
	log   *slog.Logger
	stats *Stats
	now   func() time.Time
	// captureOnAuthorize captures in the authorize step (WithCaptureOnAuthorize).
	captureOnAuthorize bool
}

// Option changes how the use cases run.
type Option func(*Service)

// WithCaptureOnAuthorize has the authorize step capture the hold it got, in the same step
// (see Authorize). Without it, the capture step captures every order, one step later.
func WithCaptureOnAuthorize() Option { return func(s *Service) { s.captureOnAuthorize = true } }

// New returns the service; none of the dependencies may be nil.
func New(store Store, gw payment.Gateway, log *slog.Logger, stats *Stats, now func() time.Time, opts ...Option) (*Service, error) {
	if store == nil || gw == nil || log == nil || stats == nil || now == nil {
		return nil, errors.New("saga: New needs every dependency")
	}
	s := &Service{store: store, gw: gw, log: log, stats: stats, now: now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Place takes a placed order in: it is reserved when all its stock can be held, rejected
// otherwise. An order that breaks the rules returns an error wrapping order.ErrInvalid.
func (s *Service) Place(ctx context.Context, d events.Delivery, p order.PlaceParams) error {
	taken, dup, err := s.store.TakeIn(ctx, d, p, func(o *order.Order, missing string) error {
		return o.TakeIn(missing, s.now())
	})
	if err != nil {
		return err
	}
	if dup {
		s.stats.Duplicate(d.Consumer)
		s.log.DebugContext(ctx, "duplicate message acknowledged", "order_id", p.ID, "consumer", d.Consumer)
		return nil
	}
	s.recorded(ctx, d, taken, 0, "order placed")
	return nil
}

// Refuse records a PlaceOrder command that can never be taken in (why says what is wrong with
// it) as an order rejected at once, so that its id settles. It returns whether it recorded it
// now (false: the command was refused or taken in before).
func (s *Service) Refuse(ctx context.Context, d events.Delivery, p order.PlaceParams, why string) (bool, error) {
	o := order.Refuse(p, why, s.now())
	dup, err := s.store.Refuse(ctx, d, o)
	if err != nil {
		return false, err
	}
	if dup {
		s.stats.Duplicate(d.Consumer)
		return false, nil
	}
	s.recorded(ctx, d, o, 0, "order refused")
	return true, nil
}

// step applies fn to order id, all or nothing, and records the transitions it made.
func (s *Service) step(ctx context.Context, d events.Delivery, id string, fn func(context.Context, *order.Order) error) error {
	var changed *order.Order
	var before int
	dup, err := s.store.UpdateOrder(ctx, d, id, func(o *order.Order) error {
		changed, before = o, o.Version()
		return fn(ctx, o)
	})
	switch {
	case errors.Is(err, order.ErrNotFound):
		return fault.Permanent(err) // an event or command about an order that does not exist
	case err != nil:
		return err
	case dup:
		s.stats.Duplicate(d.Consumer)
		return nil
	}
	s.recorded(ctx, d, changed, before, "order changed")
	return nil
}

// recorded counts the transitions o made after version before, once committed, and logs them
// as what.
func (s *Service) recorded(ctx context.Context, d events.Delivery, o *order.Order, before int, what string) {
	s.stats.Changes(ctx, o, before)
	if o.Version() > before {
		h := o.History()
		s.log.InfoContext(ctx, what, "order_id", o.ID(), "correlation_id", d.CorrelationID,
			"status", o.Status(), "reason", h[len(h)-1].Reason)
	}
}

package testenv

import (
	"context"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// Intake is the store side of the saga's intake (postgres.Store.TakeIn).
type Intake interface {
	TakeIn(ctx context.Context, d events.Delivery, p order.PlaceParams, decide func(o *order.Order, missing string) error) (*order.Order, bool, error)
}

// Place applies the PlaceOrder command of p through store as the intake does, now.
func Place(ctx context.Context, store Intake, consumer string, p order.PlaceParams, correlationID string) (order.Status, bool, error) {
	return PlaceAt(ctx, store, consumer, p, correlationID, time.Now())
}

// PlaceAt applies the PlaceOrder command of p through store as the intake does: delivered to
// consumer with the command's message id, reserved or rejected at at by the domain's rule. It
// returns the status reached, or duplicate (and no status) when the command was applied before.
func PlaceAt(ctx context.Context, store Intake, consumer string, p order.PlaceParams, correlationID string, at time.Time) (order.Status, bool, error) {
	d := events.Delivery{Consumer: consumer, MessageID: events.MessageID(p.ID, events.NamePlaceOrder, 0), CorrelationID: correlationID}
	o, dup, err := store.TakeIn(ctx, d, p, func(o *order.Order, missing string) error { return o.TakeIn(missing, at) })
	if err != nil || dup {
		return "", dup, err
	}
	return o.Status(), false, nil
}

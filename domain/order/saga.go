package order

import (
	"fmt"
	"slices"
	"time"
)

// Statuses lists every status of the lifecycle, in the order an order may pass through them.
// It returns a new slice each time, so that no caller can change the list another reads.
func Statuses() []Status {
	return []Status{StatusPending, StatusReserved, StatusAuthorized, StatusConfirmed, StatusRejected,
		StatusCancelled, StatusRefunded, StatusExpired, StatusNeedsAttention}
}

// Valid reports whether s is one of the lifecycle's statuses: input from a client or a stored
// row is checked with it before it is trusted.
func (s Status) Valid() bool { return slices.Contains(Statuses(), s) }

// InFlight reports whether s is a status an order passes through on its way to a settled one:
// pending, reserved or authorized. Only those are watched for orders that stopped moving.
func (s Status) InFlight() bool { return s.Valid() && !s.Settled() }

// Settled reports whether s is final: no message or sweep will change it again.
func (s Status) Settled() bool {
	switch s {
	case StatusConfirmed, StatusRejected, StatusCancelled, StatusRefunded, StatusExpired, StatusNeedsAttention:
		return true
	}
	return false
}

// CanCancel reports whether a cancel request may still change the order: everything but the
// settled statuses, and confirmed (a cancel after capture is a refund).
func (s Status) CanCancel() bool { return !s.Settled() || s == StatusConfirmed }

// PaymentAuthorized records the hold on the customer's funds.
type PaymentAuthorized struct {
	OrderID         string
	Version         int
	AuthorizationID string
	Amount          int64
	At              time.Time
}

// Confirmed records the capture: the reserved units leave on_hand and reserved.
type Confirmed struct {
	OrderID string
	Version int
	Items   []Item
	At      time.Time
}

// Released records an order settled without shipping (cancelled or expired): its reserved
// units return to available.
type Released struct {
	OrderID string
	Version int
	Status  Status // cancelled or expired
	Reason  string
	Items   []Item
	At      time.Time
}

// Refunded records a refund after capture: the units return to on_hand.
type Refunded struct {
	OrderID string
	Version int
	Reason  string
	Items   []Item
	At      time.Time
}

// FlaggedForAttention records that a compensation kept failing: an operator must act.
type FlaggedForAttention struct {
	OrderID string
	Version int
	Reason  string
	At      time.Time
}

func (e PaymentAuthorized) EventOrderID() string   { return e.OrderID }
func (e PaymentAuthorized) EventVersion() int      { return e.Version }
func (e PaymentAuthorized) EventAt() time.Time     { return e.At }
func (e Confirmed) EventOrderID() string           { return e.OrderID }
func (e Confirmed) EventVersion() int              { return e.Version }
func (e Confirmed) EventAt() time.Time             { return e.At }
func (e Released) EventOrderID() string            { return e.OrderID }
func (e Released) EventVersion() int               { return e.Version }
func (e Released) EventAt() time.Time              { return e.At }
func (e Refunded) EventOrderID() string            { return e.OrderID }
func (e Refunded) EventVersion() int               { return e.Version }
func (e Refunded) EventAt() time.Time              { return e.At }
func (e FlaggedForAttention) EventOrderID() string { return e.OrderID }
func (e FlaggedForAttention) EventVersion() int    { return e.Version }
func (e FlaggedForAttention) EventAt() time.Time   { return e.At }

func (o *Order) require(to Status, from ...Status) error {
	if !slices.Contains(from, o.status) {
		return fmt.Errorf("%w: %s to %s", ErrInvalidTransition, o.status, to)
	}
	return nil
}

// Authorize records the gateway's hold on a reserved order.
func (o *Order) Authorize(authorizationID string, at time.Time) error {
	if err := o.require(StatusAuthorized, StatusReserved); err != nil {
		return err
	}
	o.authorizationID = authorizationID
	o.apply(StatusAuthorized, "", at)
	o.events = append(o.events, PaymentAuthorized{OrderID: o.id, Version: o.version, AuthorizationID: authorizationID, Amount: o.Total(), At: at})
	return nil
}

// Confirm settles an authorized order once the payment is captured; its stock is committed.
func (o *Order) Confirm(at time.Time) error {
	if err := o.require(StatusConfirmed, StatusAuthorized); err != nil {
		return err
	}
	o.apply(StatusConfirmed, "", at)
	o.events = append(o.events, Confirmed{OrderID: o.id, Version: o.version, Items: ReservationPlan(o.lines), At: at})
	return nil
}

// Cancel settles an order that has not been captured; its reserved stock is released. The
// caller voids an authorization first.
func (o *Order) Cancel(reason string, at time.Time) error {
	return o.release(StatusCancelled, reason, at, StatusPending, StatusReserved, StatusAuthorized)
}

// Expire settles a reserved order whose reservation outlived its TTL.
func (o *Order) Expire(at time.Time) error {
	return o.release(StatusExpired, "reservation_ttl_passed", at, StatusReserved)
}

func (o *Order) release(to Status, reason string, at time.Time, from ...Status) error {
	if err := o.require(to, from...); err != nil {
		return err
	}
	var items []Item
	if o.status != StatusPending { // a pending order holds nothing yet
		items = ReservationPlan(o.lines)
	}
	o.apply(to, reason, at)
	o.events = append(o.events, Released{OrderID: o.id, Version: o.version, Status: to, Reason: reason, Items: items, At: at})
	return nil
}

// Refund settles a confirmed order whose payment was refunded; its units are restocked.
func (o *Order) Refund(reason string, at time.Time) error {
	if err := o.require(StatusRefunded, StatusConfirmed); err != nil {
		return err
	}
	o.apply(StatusRefunded, reason, at)
	o.events = append(o.events, Refunded{OrderID: o.id, Version: o.version, Reason: reason, Items: ReservationPlan(o.lines), At: at})
	return nil
}

// FlagForAttention parks an order whose compensation (void, refund) kept failing. Its stock
// stays as it is until an operator settles it.
func (o *Order) FlagForAttention(reason string, at time.Time) error {
	if err := o.require(StatusNeedsAttention, StatusPending, StatusReserved, StatusAuthorized, StatusConfirmed); err != nil {
		return err
	}
	o.apply(StatusNeedsAttention, reason, at)
	o.events = append(o.events, FlaggedForAttention{OrderID: o.id, Version: o.version, Reason: reason, At: at})
	return nil
}

// Resumed records that an operator took an order out of needs_attention, back to the status
// it was parked from, to settle it.
type Resumed struct {
	OrderID string
	Version int
	Status  Status
	At      time.Time
}

func (e Resumed) EventOrderID() string { return e.OrderID }
func (e Resumed) EventVersion() int    { return e.Version }
func (e Resumed) EventAt() time.Time   { return e.At }

// Resume takes an order out of needs_attention, back to the status it was parked from, so that
// its compensation can run again once an operator fixed the cause.
func (o *Order) Resume(at time.Time) error {
	if o.status != StatusNeedsAttention {
		return fmt.Errorf("%w: %s is not parked", ErrInvalidTransition, o.status)
	}
	var parkedFrom Status // the status right before the current parking
	if n := len(o.history); n >= 2 {
		parkedFrom = o.history[n-2].Status
	}
	if parkedFrom == "" || parkedFrom.Settled() && parkedFrom != StatusConfirmed {
		return fmt.Errorf("%w: cannot tell what %s was parked from", ErrInvalidTransition, o.id)
	}
	o.apply(parkedFrom, "resumed_by_operator", at)
	o.events = append(o.events, Resumed{OrderID: o.id, Version: o.version, Status: parkedFrom, At: at})
	return nil
}

// AuthorizationID returns the gateway's hold, once the order was authorized.
func (o *Order) AuthorizationID() string { return o.authorizationID }

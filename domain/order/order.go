package order

import (
	"fmt"
	"time"
)

// Status is an order's place in its lifecycle; the strings are the API's.
type Status string

// The lifecycle's statuses (see docs/ARCHITECTURE.md). Statuses lists them; saga.go says which
// are settled, in flight, or may still be cancelled.
const (
	StatusPending        Status = "pending"
	StatusReserved       Status = "reserved"
	StatusAuthorized     Status = "authorized"
	StatusConfirmed      Status = "confirmed"
	StatusRejected       Status = "rejected"
	StatusCancelled      Status = "cancelled"
	StatusRefunded       Status = "refunded"
	StatusExpired        Status = "expired"
	StatusNeedsAttention Status = "needs_attention"
)

// Line is one SKU of an order. UnitPrice is in the currency's minor unit.
type Line struct {
	SKU       string
	Quantity  int64
	UnitPrice int64
}

// Change is one entry of an order's history: the status it reached, why, and when.
type Change struct {
	Version int
	Status  Status
	Reason  string
	At      time.Time
}

// Order is the aggregate. Its fields are unexported so that only its methods change them.
type Order struct {
	id           string
	storefront   string
	customerID   string
	currency     string
	lines        []Line
	paymentToken string
	acceptedAt   time.Time
	// authorizationID is the payment gateway's hold, set once authorized.
	authorizationID string
	status          Status
	version         int
	history         []Change
	events          []Event
}

// PlaceParams is what a storefront asks for. It is validated by Place.
type PlaceParams struct {
	ID           string
	Storefront   string
	CustomerID   string
	Currency     string
	Lines        []Line
	PaymentToken string
	AcceptedAt   time.Time
}

// Place validates p and returns a pending order that has recorded its Placed event.
// It returns a *ValidationError (errors.Is ErrInvalid) naming every field that breaks a rule.
func Place(p PlaceParams) (*Order, error) {
	if err := Validate(p); err != nil {
		return nil, err
	}
	if p.ID == "" {
		return nil, Invalid("id", "is required")
	}
	o := &Order{
		id: p.ID, storefront: p.Storefront, customerID: p.CustomerID, currency: p.Currency,
		lines: append([]Line(nil), p.Lines...), paymentToken: p.PaymentToken, acceptedAt: p.AcceptedAt,
	}
	o.apply(StatusPending, "", p.AcceptedAt)
	o.events = append(o.events, Placed{OrderID: o.id, Version: o.version, At: p.AcceptedAt})
	return o, nil
}

// Reserve moves a pending order to reserved once its stock is held.
func (o *Order) Reserve(items []Item, at time.Time) error {
	if o.status != StatusPending {
		return fmt.Errorf("%w: %s to %s", ErrInvalidTransition, o.status, StatusReserved)
	}
	o.apply(StatusReserved, "", at)
	o.events = append(o.events, StockReserved{OrderID: o.id, Version: o.version, Items: items, At: at})
	return nil
}

// Reject settles a pending order that cannot be served, with the reason the client will read.
func (o *Order) Reject(reason string, at time.Time) error {
	if o.status != StatusPending {
		return fmt.Errorf("%w: %s to %s", ErrInvalidTransition, o.status, StatusRejected)
	}
	o.apply(StatusRejected, reason, at)
	o.events = append(o.events, Rejected{OrderID: o.id, Version: o.version, Reason: reason, At: at})
	return nil
}

func (o *Order) apply(s Status, reason string, at time.Time) {
	o.status = s
	o.version++
	o.history = append(o.history, Change{Version: o.version, Status: s, Reason: reason, At: at})
}

// Rehydrate rebuilds a stored order without re-running the rules or recording events.
func Rehydrate(p PlaceParams, status Status, authorizationID string, history []Change) *Order {
	o := &Order{
		id: p.ID, storefront: p.Storefront, customerID: p.CustomerID, currency: p.Currency,
		lines: p.Lines, paymentToken: p.PaymentToken, acceptedAt: p.AcceptedAt,
		authorizationID: authorizationID, status: status, history: history,
	}
	if n := len(history); n > 0 {
		o.version = history[n-1].Version
	}
	return o
}

// ID returns the order's id.
func (o *Order) ID() string { return o.id }

// Storefront returns the storefront that placed the order.
func (o *Order) Storefront() string { return o.storefront }

// CustomerID returns the storefront's customer reference.
func (o *Order) CustomerID() string { return o.customerID }

// Currency returns the ISO 4217 code of every amount of the order.
func (o *Order) Currency() string { return o.currency }

// Lines returns a copy of the order's lines.
func (o *Order) Lines() []Line { return append([]Line(nil), o.lines...) }

// PaymentToken returns the token the payment gateway charges. Never log it.
func (o *Order) PaymentToken() string { return o.paymentToken }

// AcceptedAt returns when the ingest accepted the order.
func (o *Order) AcceptedAt() time.Time { return o.acceptedAt }

// Status returns the current status.
func (o *Order) Status() Status { return o.status }

// Version counts the order's transitions; every event carries the version it produced.
func (o *Order) Version() int { return o.version }

// History returns a copy of the status changes, oldest first.
func (o *Order) History() []Change { return append([]Change(nil), o.history...) }

// Total returns the sum of the lines in minor units. Validation bounds it far below overflow.
func (o *Order) Total() int64 { return Total(o.lines) }

// Total sums lines in minor units.
func Total(lines []Line) int64 {
	var t int64
	for _, l := range lines {
		t += l.Quantity * l.UnitPrice
	}
	return t
}

// Events returns the events recorded since the order was placed or rehydrated, oldest first.
func (o *Order) Events() []Event { return append([]Event(nil), o.events...) }

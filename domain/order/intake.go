package order

import "time"

// TakeIn decides a placed order's first step once the intake has tried to hold stock for every
// line of its ReservationPlan. missing is empty when every line is held: the order is reserved.
// Otherwise it names what could not be held ("out_of_stock: SKU-1") and the order is rejected
// with it as the reason the storefront reads.
func (o *Order) TakeIn(missing string, at time.Time) error {
	if missing != "" {
		return o.Reject(missing, at)
	}
	return o.Reserve(ReservationPlan(o.lines), at)
}

// ReasonInvalidCommand prefixes the reason of an order whose command could never be taken in.
const ReasonInvalidCommand = "invalid_command"

// Refuse records a PlaceOrder command that can never be taken in (it breaks today's rules, or
// could not be read) as an order placed and rejected at once, so that the id its storefront was
// answered with still settles. p holds what could be read of the command; its lines, which may
// break the rules, are not kept (the order holds nothing), nor is its payment token.
func Refuse(p PlaceParams, why string, at time.Time) *Order {
	currency := p.Currency
	if !ValidCurrency(currency) {
		currency = "XXX" // ISO 4217's "no currency"
	}
	o := &Order{id: p.ID, storefront: p.Storefront, customerID: p.CustomerID, currency: currency, acceptedAt: p.AcceptedAt}
	if o.acceptedAt.IsZero() {
		o.acceptedAt = at
	}
	o.apply(StatusPending, "", o.acceptedAt)
	o.events = append(o.events, Placed{OrderID: o.id, Version: o.version, At: o.acceptedAt})
	reason := ReasonInvalidCommand + ": " + why
	o.apply(StatusRejected, reason, at)
	o.events = append(o.events, Rejected{OrderID: o.id, Version: o.version, Reason: reason, At: at})
	return o
}

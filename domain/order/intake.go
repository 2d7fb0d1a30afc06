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

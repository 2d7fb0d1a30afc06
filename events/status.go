package events

import "github.com/shopflow/orders/domain/order"

// StatusChange is one order event and the status it sets. Status is empty for
// order.resumed.v1, which sets the status its payload names: the one the order was parked from.
type StatusChange struct {
	Name   string
	Status order.Status
}

// StatusChanges lists every order event and the status it sets: the one table the read side
// follows to know which status an event leads to. A new event that changes an order's status
// is added here, or the projections will not show it. It returns a new slice each time.
func StatusChanges() []StatusChange {
	return []StatusChange{
		{NameOrderPlaced, order.StatusPending},
		{NameStockReserved, order.StatusReserved},
		{NameOrderRejected, order.StatusRejected},
		{NamePaymentAuthorized, order.StatusAuthorized},
		{NameOrderConfirmed, order.StatusConfirmed},
		{NameOrderCancelled, order.StatusCancelled},
		{NameOrderExpired, order.StatusExpired},
		{NameOrderRefunded, order.StatusRefunded},
		{NameOrderNeedsAttention, order.StatusNeedsAttention},
		{NameOrderResumed, ""},
	}
}

// StatusSetBy returns the status the event named name sets, from StatusChanges: empty with ok
// for order.resumed.v1 (its payload names it), and ok false for a message that sets none.
func StatusSetBy(name string) (status order.Status, ok bool) {
	for _, c := range StatusChanges() {
		if c.Name == name {
			return c.Status, true
		}
	}
	return "", false
}

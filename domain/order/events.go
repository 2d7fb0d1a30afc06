package order

import "time"

// Event is something that happened to an order, in the order it happened.
type Event interface {
	EventOrderID() string
	EventVersion() int
	EventAt() time.Time
}

// Item is a quantity of one SKU, as reserved.
type Item struct {
	SKU      string
	Quantity int64
}

// Placed records that an order was taken in (version 1).
type Placed struct {
	OrderID string
	Version int
	At      time.Time
}

// StockReserved records that every line's stock is held for the order.
type StockReserved struct {
	OrderID string
	Version int
	Items   []Item
	At      time.Time
}

// Rejected records that the order cannot be served, and why.
type Rejected struct {
	OrderID string
	Version int
	Reason  string
	At      time.Time
}

func (e Placed) EventOrderID() string        { return e.OrderID }
func (e Placed) EventVersion() int           { return e.Version }
func (e Placed) EventAt() time.Time          { return e.At }
func (e StockReserved) EventOrderID() string { return e.OrderID }
func (e StockReserved) EventVersion() int    { return e.Version }
func (e StockReserved) EventAt() time.Time   { return e.At }
func (e Rejected) EventOrderID() string      { return e.OrderID }
func (e Rejected) EventVersion() int         { return e.Version }
func (e Rejected) EventAt() time.Time        { return e.At }

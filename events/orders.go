package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopflow/orders/domain/order"
)

// LineV1 is an order line on the wire.
type LineV1 struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

// PlaceOrderV1 (order.place.v1) asks the inventory worker to take in an accepted order.
// It carries the payment token because the payment worker will need it; never log it.
type PlaceOrderV1 struct {
	OrderID      string    `json:"order_id"`
	Storefront   string    `json:"storefront"`
	CustomerID   string    `json:"customer_id"`
	Currency     string    `json:"currency"`
	Lines        []LineV1  `json:"lines"`
	PaymentToken string    `json:"payment_token"`
	AcceptedAt   time.Time `json:"accepted_at"`
}

// OrderPlacedV1 (order.placed.v1): the order exists, pending, with these lines.
type OrderPlacedV1 struct {
	OrderID    string    `json:"order_id"`
	Version    int       `json:"version"`
	Storefront string    `json:"storefront"`
	CustomerID string    `json:"customer_id"`
	Currency   string    `json:"currency"`
	Lines      []LineV1  `json:"lines"`
	Total      int64     `json:"total"`
	At         time.Time `json:"at"`
}

// ItemV1 is a reserved quantity of one SKU.
type ItemV1 struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// StockReservedV1 (stock.reserved.v1): every line's stock is held for the order.
type StockReservedV1 struct {
	OrderID string    `json:"order_id"`
	Version int       `json:"version"`
	Items   []ItemV1  `json:"items"`
	At      time.Time `json:"at"`
}

// OrderRejectedV1 (order.rejected.v1): the order cannot be served, and why.
type OrderRejectedV1 struct {
	OrderID string    `json:"order_id"`
	Version int       `json:"version"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// NewPlaceOrder builds the PlaceOrder command for an accepted order.
func NewPlaceOrder(p order.PlaceParams, correlationID string) (Envelope, error) {
	cmd := PlaceOrderV1{
		OrderID: p.ID, Storefront: p.Storefront, CustomerID: p.CustomerID, Currency: p.Currency,
		Lines: linesV1(p.Lines), PaymentToken: p.PaymentToken, AcceptedAt: p.AcceptedAt.UTC(),
	}
	return envelope(SubjectPlaceOrder, NamePlaceOrder, p.ID, 0, correlationID, p.AcceptedAt, cmd)
}

// DecodePlaceOrder reads an order.place.v1 envelope back into the order's parameters.
// Unknown fields and trailing data are errors: a command is produced by our own ingest, so
// anything unexpected means a bug or a forgery and goes to the dead letters (ErrMalformed).
func DecodePlaceOrder(e Envelope) (order.PlaceParams, error) {
	var cmd PlaceOrderV1
	if err := decodeStrict(e, NamePlaceOrder, &cmd); err != nil {
		return order.PlaceParams{}, err
	}
	if y := cmd.AcceptedAt.UTC().Year(); y < 2000 || y > 9999 {
		return order.PlaceParams{}, fmt.Errorf("%w: accepted_at %s is out of range", ErrMalformed, cmd.AcceptedAt)
	}
	if cmd.OrderID != e.OrderID {
		return order.PlaceParams{}, fmt.Errorf("%w: payload order %q, header %q", ErrMalformed, cmd.OrderID, e.OrderID)
	}
	lines := make([]order.Line, len(cmd.Lines))
	for i, l := range cmd.Lines {
		lines[i] = order.Line{SKU: l.SKU, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
	}
	return order.PlaceParams{
		ID: cmd.OrderID, Storefront: cmd.Storefront, CustomerID: cmd.CustomerID, Currency: cmd.Currency,
		Lines: lines, PaymentToken: cmd.PaymentToken, AcceptedAt: cmd.AcceptedAt,
	}, nil
}

// FromOrder turns the events an order recorded into envelopes for the outbox.
func FromOrder(o *order.Order, correlationID string) ([]Envelope, error) {
	recorded := o.Events()
	out := make([]Envelope, 0, len(recorded))
	for _, ev := range recorded {
		name, payload, err := wire(o, ev)
		if err != nil {
			return nil, err
		}
		env, err := envelope(EventSubject(name), name, o.ID(), ev.EventVersion(), correlationID, ev.EventAt(), payload)
		if err != nil {
			return nil, err
		}
		out = append(out, env)
	}
	return out, nil
}

func wire(o *order.Order, ev order.Event) (string, any, error) {
	switch e := ev.(type) {
	case order.Placed:
		return NameOrderPlaced, OrderPlacedV1{
			OrderID: e.OrderID, Version: e.Version, Storefront: o.Storefront(), CustomerID: o.CustomerID(),
			Currency: o.Currency(), Lines: linesV1(o.Lines()), Total: o.Total(), At: e.At.UTC(),
		}, nil
	case order.StockReserved:
		items := make([]ItemV1, len(e.Items))
		for i, it := range e.Items {
			items[i] = ItemV1(it)
		}
		return NameStockReserved, StockReservedV1{OrderID: e.OrderID, Version: e.Version, Items: items, At: e.At.UTC()}, nil
	case order.Rejected:
		return NameOrderRejected, OrderRejectedV1{OrderID: e.OrderID, Version: e.Version, Reason: e.Reason, At: e.At.UTC()}, nil
	default:
		if name, payload, ok := sagaWire(ev); ok {
			return name, payload, nil
		}
		return "", nil, fmt.Errorf("events: no wire contract for %T", ev)
	}
}

func envelope(subject, name, orderID string, version int, correlationID string, at time.Time, payload any) (Envelope, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", name, err)
	}
	return Envelope{
		ID: MessageID(orderID, name, version), Subject: subject, Name: name, OrderID: orderID,
		CorrelationID: correlationID, OccurredAt: at.UTC(), Payload: data, Version: version,
	}, nil
}

func linesV1(lines []order.Line) []LineV1 {
	out := make([]LineV1, len(lines))
	for i, l := range lines {
		out[i] = LineV1(l)
	}
	return out
}

// SalvagePlaceOrder reads what it can of a PlaceOrder command that cannot be decoded (an
// envelope or payload DecodePlaceOrder refuses, say from a newer release): the order id the
// header names, and the storefront, customer, currency and accept time of a lenient read of
// the payload when its order id agrees. The intake records the order as rejected with them,
// so that the storefront it belongs to can read how it ended.
func SalvagePlaceOrder(orderID string, payload []byte) order.PlaceParams {
	p := order.PlaceParams{ID: orderID}
	var cmd struct {
		OrderID    string `json:"order_id"`
		Storefront string `json:"storefront"`
		CustomerID string `json:"customer_id"`
		Currency   string `json:"currency"`
		AcceptedAt string `json:"accepted_at"`
	}
	_ = json.Unmarshal(payload, &cmd) // best effort: a field of another type is left empty
	if cmd.OrderID != orderID {
		return p
	}
	p.Storefront, p.CustomerID, p.Currency = cmd.Storefront, cmd.CustomerID, cmd.Currency
	if at, err := time.Parse(time.RFC3339Nano, cmd.AcceptedAt); err == nil {
		p.AcceptedAt = at
	}
	return p
}

package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopflow/orders/domain/order"
)

// CancelOrderV1 (order.cancel.v1) asks the payment worker to cancel an order: release it,
// void it, or refund it, whichever its status calls for.
type CancelOrderV1 struct {
	OrderID     string    `json:"order_id"`
	Reason      string    `json:"reason"`
	RequestedAt time.Time `json:"requested_at"`
}

// PaymentAuthorizedV1 (payment.authorized.v1): the gateway holds the order's amount.
type PaymentAuthorizedV1 struct {
	OrderID         string    `json:"order_id"`
	Version         int       `json:"version"`
	AuthorizationID string    `json:"authorization_id"`
	Amount          int64     `json:"amount"`
	At              time.Time `json:"at"`
}

// OrderSettledV1 is the payload of order.confirmed.v1, order.cancelled.v1, order.expired.v1,
// order.refunded.v1 and order.needs_attention.v1: the status reached, why, and the stock
// items the transition moved (committed, released or restocked; none for needs_attention).
type OrderSettledV1 struct {
	OrderID string    `json:"order_id"`
	Version int       `json:"version"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Items   []ItemV1  `json:"items,omitempty"`
	At      time.Time `json:"at"`
}

// NewCancelOrder builds the cancel command. Its id is derived from the order alone: one order
// is cancelled once, so repeated requests are one command.
func NewCancelOrder(orderID, reason, correlationID string, at time.Time) (Envelope, error) {
	return envelope(SubjectCancelOrder, NameCancelOrder, orderID, 0, correlationID, at,
		CancelOrderV1{OrderID: orderID, Reason: reason, RequestedAt: at.UTC()})
}

// DecodeCancelOrder reads an order.cancel.v1 envelope; errors wrap ErrMalformed.
func DecodeCancelOrder(e Envelope) (CancelOrderV1, error) {
	var cmd CancelOrderV1
	if err := decodeStrict(e, NameCancelOrder, &cmd); err != nil {
		return CancelOrderV1{}, err
	}
	if cmd.OrderID != e.OrderID {
		return CancelOrderV1{}, fmt.Errorf("%w: payload order %q, header %q", ErrMalformed, cmd.OrderID, e.OrderID)
	}
	return cmd, nil
}

// DecodeOrderEvent checks that e is the named event of an order; the saga's handlers need
// nothing from the payload but the order id, which the header carries.
func DecodeOrderEvent(e Envelope, name string) (string, error) {
	var ev struct {
		OrderID string `json:"order_id"`
	}
	if e.Name != name {
		return "", fmt.Errorf("%w: name %q, want %q", ErrMalformed, e.Name, name)
	}
	if err := json.Unmarshal(e.Payload, &ev); err != nil || ev.OrderID != e.OrderID {
		return "", fmt.Errorf("%w: %s payload does not name order %s", ErrMalformed, name, e.OrderID)
	}
	return e.OrderID, nil
}

func decodeStrict(e Envelope, name string, dst any) error {
	if e.Name != name {
		return fmt.Errorf("%w: name %q, want %q", ErrMalformed, e.Name, name)
	}
	dec := json.NewDecoder(bytes.NewReader(e.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: %s payload: %w", ErrMalformed, name, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s payload: trailing data", ErrMalformed, name)
	}
	return nil
}

func sagaWire(ev order.Event) (string, any, bool) {
	switch e := ev.(type) {
	case order.PaymentAuthorized:
		return NamePaymentAuthorized, PaymentAuthorizedV1{OrderID: e.OrderID, Version: e.Version,
			AuthorizationID: e.AuthorizationID, Amount: e.Amount, At: e.At.UTC()}, true
	case order.Confirmed:
		return NameOrderConfirmed, settled(e.OrderID, e.Version, order.StatusConfirmed, "", e.Items, e.At), true
	case order.Released:
		name := NameOrderCancelled
		if e.Status == order.StatusExpired {
			name = NameOrderExpired
		}
		return name, settled(e.OrderID, e.Version, e.Status, e.Reason, e.Items, e.At), true
	case order.Refunded:
		return NameOrderRefunded, settled(e.OrderID, e.Version, order.StatusRefunded, e.Reason, e.Items, e.At), true
	case order.Resumed:
		return NameOrderResumed, settled(e.OrderID, e.Version, e.Status, "resumed_by_operator", nil, e.At), true
	case order.FlaggedForAttention:
		return NameOrderNeedsAttention, settled(e.OrderID, e.Version, order.StatusNeedsAttention, e.Reason, nil, e.At), true
	}
	return "", nil, false
}

func settled(id string, version int, status order.Status, reason string, items []order.Item, at time.Time) OrderSettledV1 {
	out := OrderSettledV1{OrderID: id, Version: version, Status: string(status), Reason: reason, At: at.UTC()}
	for _, it := range items {
		out.Items = append(out.Items, ItemV1(it))
	}
	return out
}

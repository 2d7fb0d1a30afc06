package webhook

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopflow/orders/domain/order"
)

// Subscription is what planning needs of an endpoint: its id, the events it hears, and when
// it was registered: it hears statuses entered since, none from before.
type Subscription struct {
	EndpointID string
	Events     []string
	Since      time.Time
}

// Planned is one delivery to record: the body is fixed when the event happens, so every
// retry sends the same bytes.
type Planned struct {
	EndpointID string
	Type       string
	Version    int
	Payload    []byte
}

// payload is the body of a delivery.
type payload struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Plan returns the deliveries owed for every status o entered after version after, in
// version order, to each subscription that hears it. render gives the order as the API answers
// it; it is handed the order as it stood at each version, so a receiver sees what was true
// then (and can drop an older version arriving after a newer one).
func Plan(o *order.Order, after int, subs []Subscription, render func(*order.Order) ([]byte, error)) ([]Planned, error) {
	var out []Planned
	history := o.History()
	for i, c := range history {
		typ, ok := EventType(c.Status)
		if c.Version <= after || !ok {
			continue
		}
		body, err := renderAt(o, history[:i+1], typ, render)
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if Wants(s.Events, typ) && !c.At.Before(s.Since) {
				out = append(out, Planned{EndpointID: s.EndpointID, Type: typ, Version: c.Version, Payload: body})
			}
		}
	}
	return out, nil
}

// renderAt renders o as it stood once history had happened.
func renderAt(o *order.Order, history []order.Change, typ string, render func(*order.Order) ([]byte, error)) ([]byte, error) {
	last := history[len(history)-1]
	p := order.PlaceParams{ID: o.ID(), Storefront: o.Storefront(), CustomerID: o.CustomerID(),
		Currency: o.Currency(), Lines: o.Lines(), PaymentToken: o.PaymentToken(), AcceptedAt: o.AcceptedAt()}
	data, err := render(order.Rehydrate(p, last.Status, "", history))
	if err != nil {
		return nil, fmt.Errorf("render order %s at version %d: %w", o.ID(), last.Version, err)
	}
	body, err := json.Marshal(payload{Type: typ, Timestamp: last.At.UTC(), Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode webhook payload: %w", err)
	}
	return body, nil
}

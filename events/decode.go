package events

import (
	"encoding/json"
	"fmt"

	"github.com/shopflow/orders/domain/order"
)

// The read side's decoders. They are lenient, unlike the workers' (decodeStrict): the event
// store holds only what our own writers committed, and a projection must read every event a
// release ever stored, including ones with fields added since.

// OrderChange is what the read side takes from an order event: the status it set, why, and
// the stock items it moved (none for most).
type OrderChange struct {
	Status order.Status
	Reason string
	Items  []ItemV1
}

// DecodeOrderChange reads the change an event from the event store made to its order. ok is
// false for a message that sets no status (see StatusChanges): the read side skips it.
func DecodeOrderChange(name string, payload []byte) (change OrderChange, ok bool, err error) {
	status, ok := StatusSetBy(name)
	if !ok {
		return OrderChange{}, false, nil
	}
	var body struct {
		Status string   `json:"status"`
		Reason string   `json:"reason"`
		Items  []ItemV1 `json:"items"`
	}
	if err := json.Unmarshal(payload, &body); err != nil {
		return OrderChange{}, true, fmt.Errorf("%s payload: %w", name, err)
	}
	if status == "" { // order.resumed.v1: back to the status its payload names
		status = order.Status(body.Status)
	}
	return OrderChange{Status: status, Reason: body.Reason, Items: body.Items}, true, nil
}

// DecodeOrderPlaced reads an order.placed.v1 payload from the event store.
func DecodeOrderPlaced(payload []byte) (OrderPlacedV1, error) {
	var p OrderPlacedV1
	if err := json.Unmarshal(payload, &p); err != nil {
		return OrderPlacedV1{}, fmt.Errorf("%s payload: %w", NameOrderPlaced, err)
	}
	return p, nil
}

// DecodeEventVersion reads the order version an event message carries in its payload, for
// consumers that only need to know which version to look for (0 with the error when the
// payload does not say).
func DecodeEventVersion(e Envelope) (int, error) {
	var ev struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(e.Payload, &ev); err != nil {
		return 0, fmt.Errorf("%w: %s payload: %w", ErrMalformed, e.Name, err)
	}
	return ev.Version, nil
}

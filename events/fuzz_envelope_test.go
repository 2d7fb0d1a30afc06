package events_test

import (
	"errors"
	"testing"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// FuzzParseEnvelope feeds arbitrary headers and payloads through the whole decode path of a
// received command (ParseEnvelope, DecodePlaceOrder, order.Validate): no panic, and every
// refusal is ErrMalformed (dead-lettered) or a validation error, never anything a retry could fix.
func FuzzParseEnvelope(f *testing.F) {
	valid := newPlaceOrder(f)
	meta := valid.Metadata()
	f.Add(meta[events.MetaName], meta[events.MetaOrderID], meta[events.MetaOccurredAt], valid.Payload)
	f.Add("", "", "", []byte(nil))
	f.Add(events.NamePlaceOrder, "urn:uuid:"+testOrderID, meta[events.MetaOccurredAt], valid.Payload)
	f.Add(events.NamePlaceOrder, testOrderID, "yesterday", valid.Payload)
	f.Add("order.place.v2", testOrderID, meta[events.MetaOccurredAt], []byte(`{}`))
	f.Fuzz(func(t *testing.T, name, orderID, occurredAt string, payload []byte) {
		env, err := events.ParseEnvelope("id", map[string]string{
			events.MetaName: name, events.MetaOrderID: orderID, events.MetaOccurredAt: occurredAt,
		}, payload)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("ParseEnvelope: %v, want ErrMalformed", err)
			}
			return
		}
		p, err := events.DecodePlaceOrder(env)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("DecodePlaceOrder: %v, want ErrMalformed", err)
			}
			return
		}
		if err := order.Validate(p); err != nil && !errors.Is(err, order.ErrInvalid) {
			t.Fatalf("Validate: %v, want ErrInvalid", err)
		}
	})
}

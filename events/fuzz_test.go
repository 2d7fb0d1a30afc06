package events_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/shopflow/orders/events"
)

// FuzzDecodePlaceOrder feeds arbitrary payloads to DecodePlaceOrder: it must never panic,
// must reject with ErrMalformed, and whatever it accepts must encode again to the same
// command.
func FuzzDecodePlaceOrder(f *testing.F) {
	valid := newPlaceOrder(f).Payload
	f.Add(valid)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"order_id":"` + testOrderID + `","lines":null}`))
	f.Add([]byte(`{"order_id":"` + testOrderID + `","accepted_at":"2026-03-01T13:00:00+01:00","lines":[]}`))
	f.Add([]byte(`{"order_id":"` + testOrderID + `","customer_id":"\ud800"}`))
	f.Add(append(append([]byte(nil), valid...), valid...))
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(`{"order_id":"` + testOrderID + `","bogus":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte{0xff, 0xfe, 0x00})
	f.Fuzz(func(t *testing.T, payload []byte) {
		env := events.Envelope{ID: "m", Name: events.NamePlaceOrder, OrderID: testOrderID, Payload: payload}
		p, err := events.DecodePlaceOrder(env)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("err = %v, want errors.Is ErrMalformed", err)
			}
			return
		}
		again, err := events.NewPlaceOrder(p, "corr")
		if err != nil {
			t.Fatalf("accepted command does not encode again: %v", err)
		}
		q, err := events.DecodePlaceOrder(again)
		if err != nil {
			t.Fatalf("re-encoded command is rejected: %v", err)
		}
		if !q.AcceptedAt.Equal(p.AcceptedAt) {
			t.Fatalf("accepted_at %s became %s", p.AcceptedAt, q.AcceptedAt)
		}
		q.AcceptedAt = p.AcceptedAt
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("re-encoding changed the command:\n got %+v\nwant %+v", q, p)
		}
	})
}

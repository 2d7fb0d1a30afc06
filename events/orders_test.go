package events_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

var acceptedAt = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func placeParams() order.PlaceParams {
	return order.PlaceParams{
		ID: testOrderID, Storefront: "default", CustomerID: "c-42", Currency: "EUR",
		Lines: []order.Line{
			{SKU: "SKU-2", Quantity: 1, UnitPrice: 500},
			{SKU: "SKU-1", Quantity: 2, UnitPrice: 1999},
		},
		PaymentToken: "tok_visa", AcceptedAt: acceptedAt,
	}
}

func newPlaceOrder(t testing.TB) events.Envelope {
	t.Helper()
	env, err := events.NewPlaceOrder(placeParams(), "corr-1")
	if err != nil {
		t.Fatalf("NewPlaceOrder: %v", err)
	}
	return env
}

func TestPlaceOrderRoundTrip(t *testing.T) {
	t.Parallel()
	env := newPlaceOrder(t)
	if env.Subject != events.SubjectPlaceOrder || env.Name != events.NamePlaceOrder || env.OrderID != testOrderID ||
		env.ID != events.MessageID(testOrderID, events.NamePlaceOrder, 0) || !env.OccurredAt.Equal(acceptedAt) {
		t.Errorf("envelope = %+v", env)
	}
	parsed, err := events.ParseEnvelope(env.ID, env.Metadata(), env.Payload)
	if err != nil {
		t.Fatalf("ParseEnvelope: %v", err)
	}
	got, err := events.DecodePlaceOrder(parsed)
	if err != nil {
		t.Fatalf("DecodePlaceOrder: %v", err)
	}
	if want := placeParams(); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestNewPlaceOrderConvertsTimeToUTC(t *testing.T) {
	t.Parallel()
	p := placeParams()
	p.AcceptedAt = acceptedAt.In(time.FixedZone("CET", 3600))
	env, err := events.NewPlaceOrder(p, "corr-1")
	if err != nil {
		t.Fatalf("NewPlaceOrder: %v", err)
	}
	var cmd events.PlaceOrderV1
	if err := json.Unmarshal(env.Payload, &cmd); err != nil {
		t.Fatal(err)
	}
	if cmd.AcceptedAt.Location() != time.UTC || !cmd.AcceptedAt.Equal(acceptedAt) {
		t.Errorf("accepted_at = %s, want %s in UTC", cmd.AcceptedAt, acceptedAt)
	}
}

func TestDecodePlaceOrderRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(e *events.Envelope)
	}{
		{"wrong name", func(e *events.Envelope) { e.Name = events.NameOrderPlaced }},
		{"future version", func(e *events.Envelope) { e.Name = "order.place.v2" }},
		{"unknown field", func(e *events.Envelope) { e.Payload = addField(t, e.Payload, "discount", 5) }},
		{"trailing object", func(e *events.Envelope) { e.Payload = append(e.Payload, `{"order_id":"x"}`...) }},
		{"trailing garbage", func(e *events.Envelope) { e.Payload = append(e.Payload, " x"...) }},
		{"header order id differs", func(e *events.Envelope) { e.OrderID = "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a6a" }},
		{"payload order id differs", func(e *events.Envelope) { e.Payload = addField(t, e.Payload, "order_id", "other") }},
		{"garbage bytes", func(e *events.Envelope) { e.Payload = []byte{0xff, 0x00, 0x13, 0x37} }},
		{"empty payload", func(e *events.Envelope) { e.Payload = nil }},
		{"cut short", func(e *events.Envelope) { e.Payload = e.Payload[:len(e.Payload)/2] }},
		{"array payload", func(e *events.Envelope) { e.Payload = []byte(`[]`) }},
		{"wrong type", func(e *events.Envelope) {
			e.Payload = addField(t, e.Payload, "lines", []any{map[string]any{"quantity": "2"}})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newPlaceOrder(t)
			tc.mutate(&env)
			if _, err := events.DecodePlaceOrder(env); !errors.Is(err, events.ErrMalformed) {
				t.Errorf("err = %v, want errors.Is ErrMalformed", err)
			}
		})
	}
}

// addField returns payload with key set to v.
func addField(t testing.TB, payload []byte, key string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = v
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFromOrder(t *testing.T) {
	t.Parallel()
	at := acceptedAt.Add(time.Second)
	tests := []struct {
		name       string
		transition func(o *order.Order) error
		second     string
		payload    any
	}{
		{"reserved", func(o *order.Order) error { return o.Reserve(order.ReservationPlan(o.Lines()), at) },
			events.NameStockReserved, events.StockReservedV1{OrderID: testOrderID, Version: 2, At: at,
				Items: []events.ItemV1{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-2", Quantity: 1}}}},
		{"rejected", func(o *order.Order) error { return o.Reject("out_of_stock: SKU-1", at) },
			events.NameOrderRejected, events.OrderRejectedV1{OrderID: testOrderID, Version: 2, Reason: "out_of_stock: SKU-1", At: at}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := order.Place(placeParams())
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.transition(o); err != nil {
				t.Fatal(err)
			}
			envs, err := events.FromOrder(o, "corr-1")
			if err != nil {
				t.Fatalf("FromOrder: %v", err)
			}
			if len(envs) != 2 {
				t.Fatalf("envelopes = %d, want 2", len(envs))
			}
			checkEnvelope(t, envs[0], events.NameOrderPlaced, 1, acceptedAt)
			checkEnvelope(t, envs[1], tc.second, 2, at)
			decodeInto(t, envs[0].Payload, &events.OrderPlacedV1{}, events.OrderPlacedV1{
				OrderID: testOrderID, Version: 1, Storefront: "default", CustomerID: "c-42", Currency: "EUR",
				Lines: []events.LineV1{{SKU: "SKU-2", Quantity: 1, UnitPrice: 500}, {SKU: "SKU-1", Quantity: 2, UnitPrice: 1999}},
				Total: 500 + 2*1999, At: acceptedAt,
			})
			switch want := tc.payload.(type) {
			case events.StockReservedV1:
				decodeInto(t, envs[1].Payload, &events.StockReservedV1{}, want)
			case events.OrderRejectedV1:
				decodeInto(t, envs[1].Payload, &events.OrderRejectedV1{}, want)
			}
		})
	}
}

func checkEnvelope(t testing.TB, env events.Envelope, name string, version int, at time.Time) {
	t.Helper()
	if env.Name != name || env.Subject != "evt."+name || env.OrderID != testOrderID || env.CorrelationID != "corr-1" ||
		env.ID != events.MessageID(testOrderID, name, version) || !env.OccurredAt.Equal(at) {
		t.Errorf("envelope = %+v, want %s v%d at %s", env, name, version, at)
	}
}

// decodeInto strictly decodes payload into dst (a pointer) and compares *dst with want.
func decodeInto[T any](t testing.TB, payload []byte, dst *T, want T) {
	t.Helper()
	if err := json.Unmarshal(payload, dst); err != nil {
		t.Fatalf("decode %T: %v", dst, err)
	}
	if !reflect.DeepEqual(*dst, want) {
		t.Errorf("payload:\n got %+v\nwant %+v", *dst, want)
	}
}

// TestDecodePlaceOrderRejectsUnencodableTime: an accepted_at whose UTC form falls outside the
// years 0–9999 decodes, but no event of that order can be encoded (time.MarshalJSON fails), so
// the worker's PlaceOrder fails with a plain (retryable) error instead of dead-lettering the
// command at once. Found by FuzzDecodePlaceOrder.
func TestDecodePlaceOrderRejectsUnencodableTime(t *testing.T) {
	t.Parallel()
	env := newPlaceOrder(t)
	env.Payload = addField(t, env.Payload, "accepted_at", "0000-01-01T00:00:00+01:00")
	if _, err := events.DecodePlaceOrder(env); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("err = %v, want errors.Is ErrMalformed", err)
	}
}

func TestSalvagePlaceOrderKeepsWhoseOrderItIs(t *testing.T) {
	const id = "0195a0c4-6c1e-7d2a-9b7e-0000000f0010"
	payload := []byte(`{"order_id":"` + id + `","storefront":"shop-a","customer_id":"c-1","currency":"EUR",` +
		`"lines":"not a list","gift_note":"new field","accepted_at":"2026-12-01T10:00:00Z"}`)
	p := events.SalvagePlaceOrder(id, payload)
	if p.ID != id || p.Storefront != "shop-a" || p.CustomerID != "c-1" || p.Currency != "EUR" || p.AcceptedAt.IsZero() {
		t.Errorf("salvaged %+v; want the id, storefront, customer, currency and accept time", p)
	}
	if other := events.SalvagePlaceOrder("0195a0c4-6c1e-7d2a-9b7e-0000000f0011", payload); other.Storefront != "" {
		t.Errorf("a payload of another order gave storefront %q; want nothing but the id", other.Storefront)
	}
}

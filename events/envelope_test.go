package events_test

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/orders/events"
)

const testOrderID = "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a69"

func validMeta() map[string]string {
	return map[string]string{
		events.MetaName:          events.NamePlaceOrder,
		events.MetaOrderID:       testOrderID,
		events.MetaCorrelationID: "corr-1",
		events.MetaOccurredAt:    "2026-03-01T12:00:00.123456789Z",
	}
}

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	env, err := events.ParseEnvelope("msg-1", validMeta(), []byte(`{}`))
	if err != nil {
		t.Fatalf("ParseEnvelope: %v", err)
	}
	want := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	if env.ID != "msg-1" || env.Name != events.NamePlaceOrder || env.OrderID != testOrderID ||
		env.CorrelationID != "corr-1" || !env.OccurredAt.Equal(want) || string(env.Payload) != `{}` {
		t.Errorf("envelope = %+v", env)
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(m map[string]string)
	}{
		{"missing name", func(m map[string]string) { delete(m, events.MetaName) }},
		{"empty name", func(m map[string]string) { m[events.MetaName] = "" }},
		{"missing order id", func(m map[string]string) { delete(m, events.MetaOrderID) }},
		{"order id not a uuid", func(m map[string]string) { m[events.MetaOrderID] = "order-1" }},
		{"order id truncated", func(m map[string]string) { m[events.MetaOrderID] = testOrderID[:35] }},
		{"missing time", func(m map[string]string) { delete(m, events.MetaOccurredAt) }},
		{"time not RFC 3339", func(m map[string]string) { m[events.MetaOccurredAt] = "01/03/2026 12:00" }},
		{"time without zone", func(m map[string]string) { m[events.MetaOccurredAt] = "2026-03-01T12:00:00" }},
		{"everything missing", func(m map[string]string) { clear(m) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			meta := validMeta()
			tc.mutate(meta)
			env, err := events.ParseEnvelope("msg-1", meta, []byte(`{}`))
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("err = %v, want errors.Is ErrMalformed", err)
			}
			if env.ID != "" || env.Name != "" {
				t.Errorf("envelope returned with an error: %+v", env)
			}
		})
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 13, 0, 0, 42, time.FixedZone("CET", 3600))
	env := events.Envelope{ID: "m", Name: events.NameOrderPlaced, OrderID: testOrderID, CorrelationID: "c", OccurredAt: at}
	meta := env.Metadata()
	if got := meta[events.MetaOccurredAt]; got != "2026-03-01T12:00:00.000000042Z" {
		t.Errorf("occurred_at = %q, want UTC with nanoseconds", got)
	}
	back, err := events.ParseEnvelope(env.ID, maps.Clone(meta), nil)
	if err != nil {
		t.Fatalf("ParseEnvelope: %v", err)
	}
	if back.Name != env.Name || back.OrderID != env.OrderID || back.CorrelationID != env.CorrelationID || !back.OccurredAt.Equal(at) {
		t.Errorf("round trip = %+v, want %+v", back, env)
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	id := events.MessageID(testOrderID, events.NameOrderPlaced, 1)
	if _, err := uuid.Parse(id); err != nil {
		t.Errorf("MessageID %q is not a uuid: %v", id, err)
	}
	if again := events.MessageID(testOrderID, events.NameOrderPlaced, 1); again != id {
		t.Errorf("MessageID is not deterministic: %s then %s", id, again)
	}
	others := map[string]string{
		"other name":    events.MessageID(testOrderID, events.NameStockReserved, 1),
		"other version": events.MessageID(testOrderID, events.NameOrderPlaced, 2),
		"other order":   events.MessageID("0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a6a", events.NameOrderPlaced, 1),
	}
	for name, other := range others {
		if other == id {
			t.Errorf("%s: MessageID is the same %s", name, id)
		}
	}
}

func TestEventSubject(t *testing.T) {
	t.Parallel()
	if got := events.EventSubject(events.NameOrderPlaced); got != "evt.order.placed.v1" {
		t.Errorf("EventSubject = %q", got)
	}
}

// TestParseEnvelopeRejectsNonCanonicalOrderID: uuid.Parse also takes "urn:uuid:…", "{…}" and
// 32 bare hex digits. PostgreSQL's uuid type rejects the URN form (the worker's insert fails
// with a retryable error instead of dead-lettering), and MessageID of the same order in two
// spellings differs, so only the canonical form can be an order id.
func TestParseEnvelopeRejectsNonCanonicalOrderID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"urn:uuid:" + testOrderID, "{" + testOrderID + "}"} {
		meta := validMeta()
		meta[events.MetaOrderID] = id
		if _, err := events.ParseEnvelope("msg-1", meta, nil); !errors.Is(err, events.ErrMalformed) {
			t.Errorf("order id %q: err = %v, want ErrMalformed", id, err)
		}
	}
}

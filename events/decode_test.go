package events_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// envelopesOf places an order, runs steps on it and returns the envelopes it recorded.
func envelopesOf(t testing.TB, steps ...func(o *order.Order) error) []events.Envelope {
	t.Helper()
	o, err := order.Place(placeParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range steps {
		if err := step(o); err != nil {
			t.Fatal(err)
		}
	}
	envs, err := events.FromOrder(o, "corr-1")
	if err != nil {
		t.Fatal(err)
	}
	return envs
}

func TestDecodeOrderChange(t *testing.T) {
	t.Parallel()
	at := acceptedAt.Add(time.Second)
	envs := envelopesOf(t, reserve(at),
		func(o *order.Order) error { return o.FlagForAttention("void_failed", at) },
		func(o *order.Order) error { return o.Resume(at) },
		func(o *order.Order) error { return o.Cancel("asked", at) })
	items := []events.ItemV1{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-2", Quantity: 1}}
	want := []events.OrderChange{
		{Status: order.StatusPending},
		{Status: order.StatusReserved, Items: items},
		{Status: order.StatusNeedsAttention, Reason: "void_failed"},
		{Status: order.StatusReserved, Reason: "resumed_by_operator"},
		{Status: order.StatusCancelled, Reason: "asked", Items: items},
	}
	if len(envs) != len(want) {
		t.Fatalf("%d envelopes, want %d", len(envs), len(want))
	}
	for i, env := range envs {
		got, ok, err := events.DecodeOrderChange(env.Name, env.Payload)
		if err != nil || !ok || !reflect.DeepEqual(got, want[i]) {
			t.Errorf("%s: %+v, %t, %v; want %+v", env.Name, got, ok, err, want[i])
		}
	}
}

func TestDecodeOrderChangeSkipsAndRejects(t *testing.T) {
	t.Parallel()
	if _, ok, err := events.DecodeOrderChange(events.NameCancelOrder, []byte("not json")); ok || err != nil {
		t.Errorf("a command: ok %t, %v; want skipped without decoding", ok, err)
	}
	if _, ok, err := events.DecodeOrderChange(events.NameOrderConfirmed, []byte(`{"items": 3}`)); !ok || err == nil {
		t.Errorf("a bad payload: ok %t, %v; want an error", ok, err)
	}
}

func TestDecodeOrderPlaced(t *testing.T) {
	t.Parallel()
	env := envelopesOf(t)[0]
	got, err := events.DecodeOrderPlaced(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if got.OrderID != testOrderID || got.Storefront != "default" || got.Total != 500+2*1999 || len(got.Lines) != 2 || !got.At.Equal(acceptedAt) {
		t.Errorf("DecodeOrderPlaced = %+v", got)
	}
	if _, err := events.DecodeOrderPlaced([]byte(`{"total": "x"}`)); err == nil {
		t.Error("a bad payload decoded")
	}
}

func TestDecodeEventVersion(t *testing.T) {
	t.Parallel()
	envs := envelopesOf(t, reserve(acceptedAt))
	if v, err := events.DecodeEventVersion(envs[1]); v != 2 || err != nil {
		t.Errorf("DecodeEventVersion = %d, %v; want 2", v, err)
	}
	bad := envs[1]
	bad.Payload = []byte(`{"version": "two"}`)
	if v, err := events.DecodeEventVersion(bad); v != 0 || !errors.Is(err, events.ErrMalformed) {
		t.Errorf("DecodeEventVersion of a bad payload = %d, %v; want 0, ErrMalformed", v, err)
	}
}

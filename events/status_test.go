package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// Every event an order records goes out under a name whose StatusChanges entry is the status
// the transition reached (or, for order.resumed.v1, names it in its payload), and every
// status is set by some event.
func TestStatusChangesMatchTheDomain(t *testing.T) {
	t.Parallel()
	at := acceptedAt.Add(time.Second)
	steps := [][]func(o *order.Order) error{
		{reserve(at), func(o *order.Order) error { return o.Authorize("auth-1", at) }, func(o *order.Order) error { return o.Confirm(at) },
			func(o *order.Order) error { return o.Refund("asked", at) }},
		{func(o *order.Order) error { return o.Reject("out_of_stock", at) }},
		{reserve(at), func(o *order.Order) error { return o.Expire(at) }},
		{reserve(at), func(o *order.Order) error { return o.Cancel("asked", at) }},
		{reserve(at), func(o *order.Order) error { return o.FlagForAttention("void_failed", at) },
			func(o *order.Order) error { return o.Resume(at) }},
	}
	reached := map[order.Status]bool{}
	for _, path := range steps {
		o, err := order.Place(placeParams())
		if err != nil {
			t.Fatal(err)
		}
		statuses := []order.Status{o.Status()}
		for _, step := range path {
			if err := step(o); err != nil {
				t.Fatal(err)
			}
			statuses = append(statuses, o.Status())
		}
		envs, err := events.FromOrder(o, "corr-1")
		if err != nil {
			t.Fatal(err)
		}
		for i, env := range envs {
			got := statusOf(t, env)
			if got != statuses[i] {
				t.Errorf("%s sets %q, the domain reached %q", env.Name, got, statuses[i])
			}
			reached[got] = true
		}
	}
	for _, s := range order.Statuses() {
		if !reached[s] {
			t.Errorf("no event sets %s", s)
		}
	}
}

// statusOf is the status env sets, as the table says, or as its payload says for a resume.
func statusOf(t testing.TB, env events.Envelope) order.Status {
	t.Helper()
	s, ok := events.StatusSetBy(env.Name)
	if !ok {
		t.Fatalf("%s is not in StatusChanges", env.Name)
	}
	if s != "" {
		return s
	}
	var p events.OrderSettledV1
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return order.Status(p.Status)
}

func reserve(at time.Time) func(o *order.Order) error {
	return func(o *order.Order) error { return o.Reserve(order.ReservationPlan(o.Lines()), at) }
}

func TestStatusSetByUnknownName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{events.NamePlaceOrder, events.NameCancelOrder, "order.shipped.v1", ""} {
		if s, ok := events.StatusSetBy(name); ok {
			t.Errorf("StatusSetBy(%q) = %q, true; want not found", name, s)
		}
	}
}

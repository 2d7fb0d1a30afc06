package messaging_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/internal/messaging"
)

// Issue 11, finding 10: orders_dead_letters_total is exported at 0 for every handler before
// any dead letter, so that increase() sees the first one.
func TestDeadLetterCounterStartsAtZeroForEveryHandler(t *testing.T) {
	e := newEnv(t, "evt.metrics.zero")
	r, reg := newTestRouter(t, messaging.RouterConfig{CloseTimeout: 5 * time.Second}, e.publisher(t))
	for _, h := range []string{"payment", "reporting"} {
		r.AddConsumerHandler(h, e.topic, e.subscriber(t, h, messaging.SubscriberConfig{}), func(*message.Message) error { return nil })
	}
	runRouter(t, r)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, f := range families {
		if f.GetName() != "orders_dead_letters_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%v = %v before any dead letter", m.GetLabel(), v)
			}
			for _, l := range m.GetLabel() {
				exported = append(exported, l.GetValue())
			}
		}
	}
	slices.Sort(exported)
	if !slices.Equal(exported, []string{"payment", "reporting"}) {
		t.Errorf("orders_dead_letters_total exported for handlers %v, want payment and reporting at 0", exported)
	}
}

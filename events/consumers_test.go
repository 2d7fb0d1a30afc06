package events_test

import (
	"strings"
	"testing"

	"github.com/shopflow/orders/events"
)

func TestResolveConsumer(t *testing.T) {
	t.Parallel()
	durables := map[string]bool{}
	for _, c := range events.Consumers() {
		stream, durable, err := events.ResolveConsumer(c.Subject)
		if err != nil || stream != c.Stream || durable != c.Durable {
			t.Errorf("ResolveConsumer(%q) = %q, %q, %v; want %q, %q", c.Subject, stream, durable, err, c.Stream, c.Durable)
		}
		if durables[c.Durable] {
			t.Errorf("durable %q is listed twice", c.Durable)
		}
		durables[c.Durable] = true
		// A consumer's subject must be one its stream holds.
		prefix := map[string]string{events.StreamCommands: "cmd.", events.StreamEvents: "evt."}[c.Stream]
		if prefix == "" || !strings.HasPrefix(c.Subject, prefix) {
			t.Errorf("%s reads %q from %s, which does not hold it", c.Durable, c.Subject, c.Stream)
		}
	}
	if _, _, err := events.ResolveConsumer("evt.order.shipped.v1"); err == nil {
		t.Error("a subject no consumer reads resolved")
	}
}

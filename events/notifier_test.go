package events_test

import (
	"strings"
	"testing"

	"github.com/shopflow/orders/events"
)

// The notifier's filter names each token: an event whose subject has another shape would
// change an order's status and never reach a storefront.
func TestNotifierHearsEveryStatusChange(t *testing.T) {
	t.Parallel()
	want := strings.Split(events.SubjectsOrderEvents, ".")
	for _, c := range events.StatusChanges() {
		got := strings.Split(events.EventSubject(c.Name), ".")
		if len(got) != len(want) || got[0] != want[0] {
			t.Errorf("%s is published on %q, which %q does not match", c.Name, events.EventSubject(c.Name), events.SubjectsOrderEvents)
		}
	}
}

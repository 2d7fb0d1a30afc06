package order_test

import (
	"slices"
	"testing"

	"github.com/shopflow/orders/domain/order"
)

func TestStatusPredicates(t *testing.T) {
	t.Parallel()
	// Each status with whether it is in flight, settled, and may still be cancelled.
	cases := []struct {
		s                            order.Status
		inFlight, settled, canCancel bool
	}{
		{order.StatusPending, true, false, true},
		{order.StatusReserved, true, false, true},
		{order.StatusAuthorized, true, false, true},
		{order.StatusConfirmed, false, true, true},
		{order.StatusRejected, false, true, false},
		{order.StatusCancelled, false, true, false},
		{order.StatusRefunded, false, true, false},
		{order.StatusExpired, false, true, false},
		{order.StatusNeedsAttention, false, true, false},
	}
	var listed []order.Status
	for _, c := range cases {
		listed = append(listed, c.s)
		t.Run(string(c.s), func(t *testing.T) {
			if !c.s.Valid() || c.s.InFlight() != c.inFlight || c.s.Settled() != c.settled || c.s.CanCancel() != c.canCancel {
				t.Errorf("Valid %t InFlight %t Settled %t CanCancel %t, want true %t %t %t",
					c.s.Valid(), c.s.InFlight(), c.s.Settled(), c.s.CanCancel(), c.inFlight, c.settled, c.canCancel)
			}
		})
	}
	if got := order.Statuses(); !slices.Equal(got, listed) {
		t.Errorf("Statuses() = %q, want %q", got, listed)
	}
	for _, s := range []order.Status{"", "Pending", "shipped", "pending "} {
		if s.Valid() || s.InFlight() {
			t.Errorf("%q: Valid %t InFlight %t, want false false", s, s.Valid(), s.InFlight())
		}
	}
}

func TestStatusesIsACopy(t *testing.T) {
	t.Parallel()
	order.Statuses()[0] = "tampered"
	if order.Statuses()[0] != order.StatusPending {
		t.Error("Statuses shares its slice between callers")
	}
}

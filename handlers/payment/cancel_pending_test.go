package payment_test

import (
	"errors"
	"testing"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/testenv"
)

// TestCancelWaitsForAnOrderNotTakenInYet: the API accepts a cancel for an order it accepted
// and the intake has not taken in yet. The command must wait for the order (retried like an
// outage, never dead-lettered), then cancel it.
func TestCancelWaitsForAnOrderNotTakenInYet(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const id = "0195a0c4-6c1e-7d2a-9b7e-00000000c001"
	err := w.h.CancelOrder(cancelMsg(t, id))
	if err == nil || fault.IsPermanent(err) || !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("cancel before the intake: %v; want a retried wait (fault.ErrUnavailable, not permanent)", err)
	}
	w.Place(t, id, "tok_visa")
	testenv.Must(t, w.h.CancelOrder(cancelMsg(t, id)))
	if s := w.State(t, id); s.Status != "cancelled" || s.Reason != "cancel_requested" {
		t.Errorf("after the intake: %+v, want cancelled cancel_requested", s)
	}
}

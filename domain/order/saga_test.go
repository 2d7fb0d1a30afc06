package order_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
)

// A whole saga from Place to Refund: each event carries the version it produced, in order,
// and the stock items of the order's lines, sorted by SKU.
func TestSagaEventsCarryVersionsAndItems(t *testing.T) {
	t.Parallel()
	at := placedAt.Add(time.Second)
	o := placed(t)
	items := []order.Item{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-3", Quantity: 5}, {SKU: "sku_2.b", Quantity: 1}}
	steps := []func() error{
		func() error { return o.Reserve(order.ReservationPlan(o.Lines()), at) },
		func() error { return o.Authorize("auth-1", at) },
		func() error { return o.Confirm(at) },
		func() error { return o.Refund("customer_request", at) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	id := o.ID()
	want := []order.Event{
		order.Placed{OrderID: id, Version: 1, At: placedAt},
		order.StockReserved{OrderID: id, Version: 2, Items: items, At: at},
		order.PaymentAuthorized{OrderID: id, Version: 3, AuthorizationID: "auth-1", Amount: 2*1999 + 5*250, At: at},
		order.Confirmed{OrderID: id, Version: 4, Items: items, At: at},
		order.Refunded{OrderID: id, Version: 5, Reason: "customer_request", Items: items, At: at},
	}
	if got := o.Events(); !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got %+v\nwant %+v", got, want)
	}
	if o.AuthorizationID() != "auth-1" || o.Status() != order.StatusRefunded || o.Version() != 5 {
		t.Errorf("authorization %q, %s v%d; want auth-1, refunded v5", o.AuthorizationID(), o.Status(), o.Version())
	}
}

// Resume takes a parked order back to the status it was parked from, whichever it was.
func TestResumeReturnsToTheStatusParkedFrom(t *testing.T) {
	t.Parallel()
	at := placedAt.Add(time.Hour)
	for _, from := range []order.Status{order.StatusPending, order.StatusReserved, order.StatusAuthorized, order.StatusConfirmed} {
		t.Run(string(from), func(t *testing.T) {
			t.Parallel()
			o := inStatus(t, from)
			if err := o.FlagForAttention("refund_failed", at); err != nil {
				t.Fatal(err)
			}
			if err := o.Resume(at.Add(time.Minute)); err != nil {
				t.Fatalf("Resume: %v", err)
			}
			v := len(pathTo(from)) + 2
			if o.Status() != from || o.Version() != v {
				t.Errorf("%s v%d, want %s v%d", o.Status(), o.Version(), from, v)
			}
			evs := o.Events()
			want := order.Resumed{OrderID: o.ID(), Version: v, Status: from, At: at.Add(time.Minute)}
			if len(evs) != 2 || !reflect.DeepEqual(evs[1], want) {
				t.Errorf("events = %+v, want the flag then %+v", evs, want)
			}
		})
	}
}

// Resume refuses a parked order whose history does not say a status it can go back to.
func TestResumeRefusesAnUnknownOrSettledOrigin(t *testing.T) {
	t.Parallel()
	na := order.StatusNeedsAttention
	for name, history := range map[string][]order.Change{
		"no earlier status":     {{Version: 1, Status: na}},
		"parked from cancelled": {{Version: 1, Status: order.StatusCancelled}, {Version: 2, Status: na}},
		"parked from parked":    {{Version: 1, Status: na}, {Version: 2, Status: na}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := order.Rehydrate(validParams(t), na, "", history)
			if err := o.Resume(placedAt); !errors.Is(err, order.ErrInvalidTransition) {
				t.Fatalf("err = %v, want ErrInvalidTransition", err)
			}
			if o.Status() != na || o.Version() != history[len(history)-1].Version || len(o.Events()) != 0 {
				t.Errorf("a refused resume changed the order: %s v%d, %d events", o.Status(), o.Version(), len(o.Events()))
			}
		})
	}
}

// Cancelling a pending order releases nothing (it holds no stock yet); cancelling a reserved
// or authorized one releases every line.
func TestCancelReleasesOnlyWhatIsHeld(t *testing.T) {
	t.Parallel()
	at := placedAt.Add(time.Hour)
	for _, from := range []order.Status{order.StatusPending, order.StatusReserved, order.StatusAuthorized} {
		t.Run(string(from), func(t *testing.T) {
			t.Parallel()
			o := inStatus(t, from)
			if err := o.Cancel("customer_request", at); err != nil {
				t.Fatal(err)
			}
			evs := o.Events()
			if len(evs) != 1 {
				t.Fatalf("events = %+v, want one", evs)
			}
			released, ok := evs[0].(order.Released)
			if !ok {
				t.Fatalf("event = %T, want order.Released", evs[0])
			}
			var want []order.Item
			if from != order.StatusPending {
				want = order.ReservationPlan(o.Lines())
			}
			if !reflect.DeepEqual(released.Items, want) {
				t.Errorf("released %+v, want %+v", released.Items, want)
			}
		})
	}
}

// Authorize keeps the gateway's hold on the order; a refused Authorize keeps the old one.
func TestAuthorizeRecordsTheHold(t *testing.T) {
	t.Parallel()
	o := inStatus(t, order.StatusReserved)
	if err := o.Authorize("auth-9", placedAt); err != nil || o.AuthorizationID() != "auth-9" {
		t.Fatalf("Authorize: %v, authorization %q", err, o.AuthorizationID())
	}
	if err := o.Authorize("auth-10", placedAt); !errors.Is(err, order.ErrInvalidTransition) || o.AuthorizationID() != "auth-9" {
		t.Errorf("second Authorize: %v, authorization %q; want ErrInvalidTransition, auth-9", err, o.AuthorizationID())
	}
}

// Events returns a copy: a caller cannot change what the order recorded.
func TestEventsIsACopy(t *testing.T) {
	t.Parallel()
	o := placed(t)
	o.Events()[0] = order.Rejected{}
	if _, ok := o.Events()[0].(order.Placed); !ok {
		t.Error("Events shares its slice with the caller")
	}
}

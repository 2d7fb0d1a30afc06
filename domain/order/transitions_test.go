package order_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
)

// pathTo is the statuses an order passes through to reach s, oldest first.
func pathTo(s order.Status) []order.Status {
	const (
		p, r, a, c = order.StatusPending, order.StatusReserved, order.StatusAuthorized, order.StatusConfirmed
	)
	switch s {
	case p:
		return []order.Status{p}
	case r, order.StatusRejected:
		return []order.Status{p, s}
	case a, order.StatusCancelled, order.StatusExpired:
		return []order.Status{p, r, s}
	case c, order.StatusNeedsAttention:
		return []order.Status{p, r, a, s}
	case order.StatusRefunded:
		return []order.Status{p, r, a, c, s}
	}
	return nil
}

// inStatus rebuilds the order of validParams as stored in status s, with the history of the
// path to it (and an authorization once it passed through authorized).
func inStatus(t testing.TB, s order.Status) *order.Order {
	t.Helper()
	path := pathTo(s)
	if path == nil {
		t.Fatalf("no path to %s", s)
	}
	var history []order.Change
	authorizationID := ""
	for i, step := range path {
		history = append(history, order.Change{Version: i + 1, Status: step, At: placedAt.Add(time.Duration(i) * time.Second)})
		if step == order.StatusAuthorized {
			authorizationID = "auth-1"
		}
	}
	return order.Rehydrate(validParams(t), s, authorizationID, history)
}

// transition is one of the order's transitions, with what it does when it is allowed.
type transition struct {
	name string
	do   func(o *order.Order, at time.Time) error
	from []order.Status
	// to is the status reached; reason is the history's reason.
	to     order.Status
	reason string
	// event is the event recorded by the order o (as it was before) at version v.
	event func(o *order.Order, from order.Status, v int, at time.Time) order.Event
}

func transitions() []transition {
	const (
		p, r, a, c, na = order.StatusPending, order.StatusReserved, order.StatusAuthorized, order.StatusConfirmed, order.StatusNeedsAttention
	)
	plan := func(o *order.Order) []order.Item { return order.ReservationPlan(o.Lines()) }
	return []transition{
		{"Reserve", func(o *order.Order, at time.Time) error { return o.Reserve(plan(o), at) }, []order.Status{p}, r, "",
			func(o *order.Order, _ order.Status, v int, at time.Time) order.Event {
				return order.StockReserved{OrderID: o.ID(), Version: v, Items: plan(o), At: at}
			}},
		{"Reject", func(o *order.Order, at time.Time) error { return o.Reject("out_of_stock: SKU-1", at) }, []order.Status{p},
			order.StatusRejected, "out_of_stock: SKU-1",
			func(o *order.Order, _ order.Status, v int, at time.Time) order.Event {
				return order.Rejected{OrderID: o.ID(), Version: v, Reason: "out_of_stock: SKU-1", At: at}
			}},
		{"Authorize", func(o *order.Order, at time.Time) error { return o.Authorize("auth-2", at) }, []order.Status{r}, a, "",
			func(o *order.Order, _ order.Status, v int, at time.Time) order.Event {
				return order.PaymentAuthorized{OrderID: o.ID(), Version: v, AuthorizationID: "auth-2", Amount: o.Total(), At: at}
			}},
		{"Confirm", func(o *order.Order, at time.Time) error { return o.Confirm(at) }, []order.Status{a}, c, "",
			func(o *order.Order, _ order.Status, v int, at time.Time) order.Event {
				return order.Confirmed{OrderID: o.ID(), Version: v, Items: plan(o), At: at}
			}},
		{"Cancel", func(o *order.Order, at time.Time) error { return o.Cancel("customer_request", at) }, []order.Status{p, r, a},
			order.StatusCancelled, "customer_request",
			func(o *order.Order, from order.Status, v int, at time.Time) order.Event {
				var items []order.Item // a pending order holds no stock yet
				if from != p {
					items = plan(o)
				}
				return order.Released{OrderID: o.ID(), Version: v, Status: order.StatusCancelled, Reason: "customer_request", Items: items, At: at}
			}},
		{"Expire", func(o *order.Order, at time.Time) error { return o.Expire(at) }, []order.Status{r},
			order.StatusExpired, "reservation_ttl_passed",
			func(o *order.Order, _ order.Status, v int, at time.Time) order.Event {
				return order.Released{OrderID: o.ID(), Version: v, Status: order.StatusExpired, Reason: "reservation_ttl_passed", Items: plan(o), At: at}
			}},
		{"Refund", func(o *order.Order, at time.Time) error { return o.Refund("customer_request", at) }, []order.Status{c},
			order.StatusRefunded, "customer_request",
			func(o *order.Order, _ order.Status, v int, at time.Time) order.Event {
				return order.Refunded{OrderID: o.ID(), Version: v, Reason: "customer_request", Items: plan(o), At: at}
			}},
		{"FlagForAttention", func(o *order.Order, at time.Time) error { return o.FlagForAttention("void_failed", at) },
			[]order.Status{p, r, a, c}, na, "void_failed",
			func(o *order.Order, _ order.Status, v int, at time.Time) order.Event {
				return order.FlaggedForAttention{OrderID: o.ID(), Version: v, Reason: "void_failed", At: at}
			}},
		// inStatus parks an order from authorized, so Resume takes it back there.
		{"Resume", func(o *order.Order, at time.Time) error { return o.Resume(at) }, []order.Status{na}, a, "resumed_by_operator",
			func(o *order.Order, _ order.Status, v int, at time.Time) order.Event {
				return order.Resumed{OrderID: o.ID(), Version: v, Status: a, At: at}
			}},
	}
}

// TestTransitionTable runs every transition on an order in every status: an allowed one moves
// the order to its status, appends one history entry and records one event; any other fails
// with ErrInvalidTransition and leaves the order as it was.
func TestTransitionTable(t *testing.T) {
	t.Parallel()
	at := placedAt.Add(time.Hour)
	for _, tr := range transitions() {
		for _, from := range order.Statuses() {
			t.Run(tr.name+" from "+string(from), func(t *testing.T) {
				t.Parallel()
				o := inStatus(t, from)
				before := inStatus(t, from)
				err := tr.do(o, at)
				if !slices.Contains(tr.from, from) {
					checkRefused(t, o, before, err)
					return
				}
				if err != nil {
					t.Fatalf("err = %v, want the transition", err)
				}
				checkApplied(t, o, before, tr.to, tr.reason, tr.event(before, from, before.Version()+1, at), at)
			})
		}
	}
}

func checkRefused(t testing.TB, o, before *order.Order, err error) {
	t.Helper()
	if !errors.Is(err, order.ErrInvalidTransition) {
		t.Fatalf("err = %v, want ErrInvalidTransition", err)
	}
	if o.Status() != before.Status() || o.Version() != before.Version() || len(o.Events()) != 0 ||
		!reflect.DeepEqual(o.History(), before.History()) || o.AuthorizationID() != before.AuthorizationID() {
		t.Errorf("a refused transition changed the order: %s v%d, %d events", o.Status(), o.Version(), len(o.Events()))
	}
}

func checkApplied(t testing.TB, o, before *order.Order, to order.Status, reason string, event order.Event, at time.Time) {
	t.Helper()
	v := before.Version() + 1
	if o.Status() != to || o.Version() != v {
		t.Errorf("status %s v%d, want %s v%d", o.Status(), o.Version(), to, v)
	}
	wantHistory := append(before.History(), order.Change{Version: v, Status: to, Reason: reason, At: at})
	if !reflect.DeepEqual(o.History(), wantHistory) {
		t.Errorf("history = %+v,\nwant %+v", o.History(), wantHistory)
	}
	if evs := o.Events(); len(evs) != 1 || !reflect.DeepEqual(evs[0], event) {
		t.Errorf("events = %+v,\nwant [%+v]", evs, event)
	}
}

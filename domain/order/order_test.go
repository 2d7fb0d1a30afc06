package order_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
)

func placed(t testing.TB) *order.Order {
	t.Helper()
	o, err := order.Place(validParams(t))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	return o
}

func TestPlace(t *testing.T) {
	t.Parallel()
	p := validParams(t)
	o := placed(t)
	if o.ID() != p.ID || o.Storefront() != p.Storefront || o.CustomerID() != p.CustomerID ||
		o.Currency() != p.Currency || o.PaymentToken() != p.PaymentToken || !o.AcceptedAt().Equal(p.AcceptedAt) {
		t.Errorf("order does not carry its params: %+v", o)
	}
	if o.Status() != order.StatusPending || o.Version() != 1 {
		t.Errorf("status %s version %d, want pending 1", o.Status(), o.Version())
	}
	wantHistory := []order.Change{{Version: 1, Status: order.StatusPending, At: placedAt}}
	if got := o.History(); !reflect.DeepEqual(got, wantHistory) {
		t.Errorf("History = %+v, want %+v", got, wantHistory)
	}
	wantEvents := []order.Event{order.Placed{OrderID: p.ID, Version: 1, At: placedAt}}
	if got := o.Events(); !reflect.DeepEqual(got, wantEvents) {
		t.Errorf("Events = %+v, want %+v", got, wantEvents)
	}
	if !slices.Equal(o.Lines(), p.Lines) {
		t.Errorf("Lines = %+v, want %+v", o.Lines(), p.Lines)
	}
	p.Lines[0].Quantity = 99 // the order keeps its own copy
	if o.Lines()[0].Quantity != 2 {
		t.Errorf("order shares its lines with the caller")
	}
}

func TestPlaceRequiresID(t *testing.T) {
	t.Parallel()
	p := validParams(t)
	p.ID = ""
	_, err := order.Place(p)
	if got := fieldsOf(t, err); !slices.Equal(got, []string{"id"}) {
		t.Errorf("fields = %q, want [id]", got)
	}
}

func TestTransitionsFromPending(t *testing.T) {
	t.Parallel()
	at := placedAt.Add(time.Second)
	tests := []struct {
		name       string
		transition func(o *order.Order) error
		status     order.Status
		reason     string
		event      func(id string) order.Event
	}{
		{"reserve", func(o *order.Order) error { return o.Reserve(order.ReservationPlan(o.Lines()), at) }, order.StatusReserved, "",
			func(id string) order.Event {
				return order.StockReserved{OrderID: id, Version: 2, At: at, Items: []order.Item{{"SKU-1", 2}, {"SKU-3", 5}, {"sku_2.b", 1}}}
			}},
		{"reject", func(o *order.Order) error { return o.Reject("out_of_stock: SKU-1", at) }, order.StatusRejected, "out_of_stock: SKU-1",
			func(id string) order.Event {
				return order.Rejected{OrderID: id, Version: 2, Reason: "out_of_stock: SKU-1", At: at}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := placed(t)
			if err := tc.transition(o); err != nil {
				t.Fatalf("transition: %v", err)
			}
			if o.Status() != tc.status || o.Version() != 2 {
				t.Errorf("status %s version %d, want %s 2", o.Status(), o.Version(), tc.status)
			}
			evs := o.Events()
			if len(evs) != 2 {
				t.Fatalf("events = %+v, want 2", evs)
			}
			if v := []int{evs[0].EventVersion(), evs[1].EventVersion()}; !slices.Equal(v, []int{1, 2}) {
				t.Errorf("event versions = %v, want [1 2]", v)
			}
			if want := tc.event(o.ID()); !reflect.DeepEqual(evs[1], want) {
				t.Errorf("event = %+v, want %+v", evs[1], want)
			}
			if evs[1].EventOrderID() != o.ID() || !evs[1].EventAt().Equal(at) {
				t.Errorf("event order %s at %s", evs[1].EventOrderID(), evs[1].EventAt())
			}
			h := o.History()
			want := order.Change{Version: 2, Status: tc.status, Reason: tc.reason, At: at}
			if len(h) != 2 || h[1] != want {
				t.Errorf("history = %+v, want second entry %+v", h, want)
			}
		})
	}
}

func TestTransitionsFromNonPending(t *testing.T) {
	t.Parallel()
	at := placedAt.Add(time.Minute)
	reserve := func(o *order.Order) error { return o.Reserve(nil, at) }
	reject := func(o *order.Order) error { return o.Reject("late", at) }
	rehydrated := func(s order.Status) func(testing.TB) *order.Order {
		return func(t testing.TB) *order.Order {
			return order.Rehydrate(validParams(t), s, "", []order.Change{{Version: 3, Status: s, At: placedAt}})
		}
	}
	after := func(first func(*order.Order) error) func(testing.TB) *order.Order {
		return func(t testing.TB) *order.Order {
			o := placed(t)
			if err := first(o); err != nil {
				t.Fatalf("first transition: %v", err)
			}
			return o
		}
	}
	tests := []struct {
		name       string
		order      func(testing.TB) *order.Order
		transition func(*order.Order) error
	}{
		{"reserve a reserved order", after(reserve), reserve},
		{"reject a reserved order", after(reserve), reject},
		{"reserve a rejected order", after(reject), reserve},
		{"reject a rejected order", after(reject), reject},
		{"reserve a confirmed order", rehydrated(order.StatusConfirmed), reserve},
		{"reject a cancelled order", rehydrated(order.StatusCancelled), reject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.order(t)
			status, version, events := o.Status(), o.Version(), len(o.Events())
			if err := tc.transition(o); !errors.Is(err, order.ErrInvalidTransition) {
				t.Fatalf("err = %v, want ErrInvalidTransition", err)
			}
			if o.Status() != status || o.Version() != version || len(o.Events()) != events {
				t.Errorf("refused transition changed the order: %s v%d %d events", o.Status(), o.Version(), len(o.Events()))
			}
		})
	}
}

func TestRehydrate(t *testing.T) {
	t.Parallel()
	h := []order.Change{
		{Version: 1, Status: order.StatusPending, At: placedAt},
		{Version: 2, Status: order.StatusReserved, At: placedAt.Add(time.Second)},
	}
	o := order.Rehydrate(validParams(t), order.StatusReserved, "", h)
	if o.Status() != order.StatusReserved || o.Version() != 2 || len(o.Events()) != 0 {
		t.Errorf("status %s version %d events %d, want reserved 2 0", o.Status(), o.Version(), len(o.Events()))
	}
	if !reflect.DeepEqual(o.History(), h) {
		t.Errorf("History = %+v", o.History())
	}
}

func TestReservationPlanSortsBySKU(t *testing.T) {
	t.Parallel()
	lines := []order.Line{
		{SKU: "b", Quantity: 1, UnitPrice: 5}, {SKU: "B", Quantity: 2}, {SKU: "a-2", Quantity: 3},
		{SKU: "a-10", Quantity: 4}, {SKU: "A", Quantity: 5},
	}
	want := []order.Item{{"A", 5}, {"B", 2}, {"a-10", 4}, {"a-2", 3}, {"b", 1}}
	if got := order.ReservationPlan(lines); !slices.Equal(got, want) {
		t.Errorf("ReservationPlan = %+v, want %+v", got, want)
	}
	if lines[0].SKU != "b" {
		t.Errorf("ReservationPlan reordered its input")
	}
	if got := order.ReservationPlan(nil); len(got) != 0 {
		t.Errorf("ReservationPlan(nil) = %+v", got)
	}
}

func TestTotal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []order.Line
		want  int64
	}{
		{"no lines", nil, 0},
		{"one line", []order.Line{{SKU: "a", Quantity: 3, UnitPrice: 1999}}, 5997},
		{"free line", []order.Line{{SKU: "a", Quantity: 3, UnitPrice: 0}, {SKU: "b", Quantity: 1, UnitPrice: 7}}, 7},
		{"largest valid order", manyLinesAt(order.MaxLines, order.MaxQuantity, order.MaxUnitPrice), 100 * 10_000 * order.MaxUnitPrice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := order.Total(tc.lines); got != tc.want {
				t.Errorf("Total = %d, want %d", got, tc.want)
			}
		})
	}
	if got := placed(t).Total(); got != 2*1999+0+5*250 {
		t.Errorf("Order.Total = %d", got)
	}
}

func manyLinesAt(n int, qty, price int64) []order.Line {
	lines := manyLines(n)
	for i := range lines {
		lines[i].Quantity, lines[i].UnitPrice = qty, price
	}
	return lines
}

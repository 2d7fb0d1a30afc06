package order_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
)

func placedTwoLines(t *testing.T) *order.Order {
	t.Helper()
	o, err := order.Place(order.PlaceParams{ID: "0b5c4a5e-2f7d-4a53-9e7c-1f2d3c4b5a69", Storefront: "s", CustomerID: "c",
		Currency: "EUR", PaymentToken: "tok_visa", AcceptedAt: time.Unix(100, 0),
		Lines: []order.Line{{SKU: "B", Quantity: 1, UnitPrice: 100}, {SKU: "A", Quantity: 2, UnitPrice: 50}}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestTakeInReservesWhatIsHeld(t *testing.T) {
	o := placedTwoLines(t)
	if err := o.TakeIn("", time.Unix(101, 0)); err != nil {
		t.Fatal(err)
	}
	if o.Status() != order.StatusReserved || o.Version() != 2 {
		t.Fatalf("status %s version %d, want reserved 2", o.Status(), o.Version())
	}
	evs := o.Events()
	r, ok := evs[len(evs)-1].(order.StockReserved)
	if !ok || len(r.Items) != 2 || r.Items[0].SKU != "A" || r.Items[1].SKU != "B" {
		t.Fatalf("last event %#v, want StockReserved of A then B", evs[len(evs)-1])
	}
}

func TestTakeInRejectsWithTheShortage(t *testing.T) {
	o := placedTwoLines(t)
	if err := o.TakeIn("out_of_stock: A", time.Unix(101, 0)); err != nil {
		t.Fatal(err)
	}
	h := o.History()
	if o.Status() != order.StatusRejected || h[len(h)-1].Reason != "out_of_stock: A" {
		t.Fatalf("status %s reason %q, want rejected out_of_stock: A", o.Status(), h[len(h)-1].Reason)
	}
	if err := o.TakeIn("", time.Unix(102, 0)); !errors.Is(err, order.ErrInvalidTransition) {
		t.Fatalf("second TakeIn: %v, want ErrInvalidTransition", err)
	}
}

func TestRefuseSettlesWhatCanBeRead(t *testing.T) {
	p := order.PlaceParams{ID: "0b5c4a5e-2f7d-4a53-9e7c-1f2d3c4b5a69", Storefront: "s", Currency: "??",
		Lines: []order.Line{{SKU: "A", Quantity: 0, UnitPrice: 1}}, PaymentToken: "tok_visa"}
	o := order.Refuse(p, "lines[0].quantity: must be positive", time.Unix(200, 0))
	h := o.History()
	if o.Status() != order.StatusRejected || o.Version() != 2 || h[1].Reason != "invalid_command: lines[0].quantity: must be positive" {
		t.Fatalf("%s v%d %q; want rejected v2 with the reason", o.Status(), o.Version(), h[1].Reason)
	}
	if o.Currency() != "XXX" || len(o.Lines()) != 0 || o.PaymentToken() != "" || o.Storefront() != "s" || !o.AcceptedAt().Equal(time.Unix(200, 0)) {
		t.Errorf("currency %q lines %v token %q storefront %q accepted %v; want XXX, none, none, s, the refusal time",
			o.Currency(), o.Lines(), o.PaymentToken(), o.Storefront(), o.AcceptedAt())
	}
	if evs := o.Events(); len(evs) != 2 {
		t.Errorf("%d events, want Placed and Rejected", len(evs))
	}
}

package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shopflow/orders/domain/inventory"
)

func TestStock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)

	if _, err := s.GetStock(ctx, "SKU-1"); !errors.Is(err, inventory.ErrNotFound) {
		t.Fatalf("GetStock of a new sku = %v, want ErrNotFound", err)
	}
	steps := []struct {
		name   string
		onHand int64
		want   inventory.Stock
	}{
		{"create", 10, inventory.Stock{SKU: "SKU-1", OnHand: 10}},
		{"raise", 25, inventory.Stock{SKU: "SKU-1", OnHand: 25}},
		{"lower to zero", 0, inventory.Stock{SKU: "SKU-1", OnHand: 0}},
	}
	for _, st := range steps {
		got, err := s.SetStock(ctx, "SKU-1", st.onHand)
		if err != nil || got != st.want {
			t.Fatalf("%s: SetStock = %+v, %v; want %+v", st.name, got, err, st.want)
		}
		if got := stock(t, s, "SKU-1"); got != st.want {
			t.Errorf("%s: GetStock = %+v, want %+v", st.name, got, st.want)
		}
	}
}

func TestSetStockBelowReserved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	setStock(t, s, map[string]int64{"SKU-1": 10})
	place(t, s, params("0195a0c4-6c1e-7d2a-9b7e-000000000001", line("SKU-1", 4)))

	if _, err := s.SetStock(ctx, "SKU-1", 3); !errors.Is(err, inventory.ErrBelowReserved) {
		t.Fatalf("SetStock below reserved = %v, want ErrBelowReserved", err)
	}
	want := inventory.Stock{SKU: "SKU-1", OnHand: 10, Reserved: 4}
	if got := stock(t, s, "SKU-1"); got != want {
		t.Errorf("after refused SetStock: %+v, want %+v", got, want)
	}
	got, err := s.SetStock(ctx, "SKU-1", 4) // exactly what is reserved: nothing left available
	if want := (inventory.Stock{SKU: "SKU-1", OnHand: 4, Reserved: 4}); err != nil || got != want || got.Available() != 0 {
		t.Errorf("SetStock to reserved = %+v, %v; want %+v", got, err, want)
	}
}

package inventory_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/domain/order"
)

func TestValidateLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sku    string
		onHand int64
		field  string // "" when valid
	}{
		{"zero", "SKU-1", 0, ""},
		{"some", "a.b_c-9", 42, ""},
		{"the max", "SKU-1", inventory.MaxOnHand, ""},
		{"negative", "SKU-1", -1, "on_hand"},
		{"over the max", "SKU-1", inventory.MaxOnHand + 1, "on_hand"},
		{"empty sku", "", 1, "sku"},
		{"sku with space", "SKU 1", 1, "sku"},
		{"sku with slash", "SKU/1", 1, "sku"},
		{"oversized sku", strings.Repeat("S", 65), 1, "sku"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := inventory.ValidateLevel(tc.sku, tc.onHand)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("ValidateLevel = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, order.ErrInvalid) {
				t.Fatalf("err = %v, want errors.Is ErrInvalid", err)
			}
			var ve *order.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != tc.field {
				t.Errorf("err = %v, want one field error naming %q", err, tc.field)
			}
		})
	}
}

func TestStockAvailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		onHand, reserved int64
		want             int64
	}{
		{"nothing reserved", 10, 0, 10},
		{"some reserved", 10, 3, 7},
		{"all reserved", 10, 10, 0},
		{"empty", 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := inventory.Stock{SKU: "SKU-1", OnHand: tc.onHand, Reserved: tc.reserved}
			if got := s.Available(); got != tc.want {
				t.Errorf("Available = %d, want %d", got, tc.want)
			}
			if s.OnHand != s.Available()+s.Reserved {
				t.Errorf("on_hand %d != available %d + reserved %d", s.OnHand, s.Available(), s.Reserved)
			}
		})
	}
}

func TestShortageText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shortage inventory.Shortage
		want     string
	}{
		{inventory.Shortage{SKU: "SKU-1", Reason: inventory.ReasonOutOfStock}, "out_of_stock: SKU-1"},
		{inventory.Shortage{SKU: "x.y_z", Reason: inventory.ReasonUnknownSKU}, "unknown_sku: x.y_z"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			if got := tc.shortage.Text(); got != tc.want {
				t.Errorf("Text = %q, want %q", got, tc.want)
			}
		})
	}
}

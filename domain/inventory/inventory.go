// Package inventory holds the stock rules: how many units a SKU has, how many are held for
// orders in flight, and what may change them.
package inventory

import (
	"errors"
	"fmt"

	"github.com/shopflow/orders/domain/order"
)

// Sentinel errors callers compare with errors.Is.
var (
	// ErrNotFound is returned for a SKU that has never been stocked.
	ErrNotFound = errors.New("inventory: sku not found")
	// ErrBelowReserved is returned when on_hand would drop below the units held for orders.
	ErrBelowReserved = errors.New("inventory: on_hand below reserved")
)

// MaxOnHand bounds a stock level to something a warehouse can hold and a bigint can sum.
const MaxOnHand = 1_000_000_000

// Rejection reasons, as the order's history shows them.
const (
	ReasonOutOfStock = "out_of_stock"
	ReasonUnknownSKU = "unknown_sku"
)

// Stock is one SKU's level. Available is derived: on_hand = available + reserved always.
type Stock struct {
	SKU      string
	OnHand   int64
	Reserved int64
}

// Available returns the units that can still be reserved.
func (s Stock) Available() int64 { return s.OnHand - s.Reserved }

// ValidateLevel checks a requested on_hand for sku before it reaches storage.
func ValidateLevel(sku string, onHand int64) error {
	if !order.ValidSKU(sku) {
		return order.Invalid("sku", "must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' or '.'")
	}
	if onHand < 0 || onHand > MaxOnHand {
		return order.Invalid("on_hand", fmt.Sprintf("must be between 0 and %d", MaxOnHand))
	}
	return nil
}

// Shortage says why a reservation could not be made: the first SKU (in reservation order)
// that was unknown or short.
type Shortage struct {
	SKU    string
	Reason string // ReasonOutOfStock or ReasonUnknownSKU
}

// Text is the rejection reason recorded on the order, e.g. "out_of_stock: SKU-1".
func (s Shortage) Text() string { return s.Reason + ": " + s.SKU }

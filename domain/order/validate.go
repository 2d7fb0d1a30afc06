package order

import (
	"fmt"
	"sort"
	"unicode"
	"unicode/utf8"
)

// Limits that keep one order within what a shop can mean and what the system can carry.
const (
	MaxLines        = 100
	MaxQuantity     = 10_000
	MaxUnitPrice    = 100_000_000_00 // one hundred million in major units
	MaxIDLength     = 64
	MaxTokenLength  = 255
	maxSKUByteCount = 64
)

// Validate checks p against the order rules and returns a *ValidationError naming every field
// that breaks one, or nil.
func Validate(p PlaceParams) error {
	var v validator
	checkText(&v, "customer_id", p.CustomerID, MaxIDLength)
	if p.Currency == "" {
		v.add("currency", "is required")
	} else if !ValidCurrency(p.Currency) {
		v.add("currency", "must be an active ISO 4217 code in upper case, got %q", truncate(p.Currency))
	}
	checkText(&v, "payment.token", p.PaymentToken, MaxTokenLength)
	switch {
	case len(p.Lines) == 0:
		v.add("lines", "must hold at least one line")
	case len(p.Lines) > MaxLines:
		v.add("lines", "must hold at most %d lines, got %d", MaxLines, len(p.Lines))
	default:
		before := len(v.fields)
		checkLines(&v, p.Lines)
		// The total is only meaningful once every line is valid.
		if len(v.fields) == before && Total(p.Lines) <= 0 {
			// A payment gateway refuses to hold 0 (Stripe: amount must be ≥ 1), so an order
			// with nothing to pay could never be authorized: refuse it here, while the client
			// is there to hear why. A free line is fine in an order that costs something.
			v.add("lines", "must add up to a positive total; free lines need a paid line beside them")
		}
	}
	return v.err()
}

func checkLines(v *validator, lines []Line) {
	seen := make(map[string]int, len(lines))
	for i, l := range lines {
		f := fmt.Sprintf("lines[%d]", i)
		if ValidSKU(l.SKU) {
			if j, dup := seen[l.SKU]; dup {
				v.add(f+".sku", "repeats lines[%d]; put the whole quantity on one line", j)
			}
			seen[l.SKU] = i
		} else {
			v.add(f+".sku", "must be 1 to %d characters of A-Z, a-z, 0-9, '-', '_' or '.'", maxSKUByteCount)
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			v.add(f+".quantity", "must be between 1 and %d, got %d", MaxQuantity, l.Quantity)
		}
		if l.UnitPrice < 0 || l.UnitPrice > MaxUnitPrice {
			v.add(f+".unit_price", "must be between 0 and %d minor units, got %d", int64(MaxUnitPrice), l.UnitPrice)
		}
	}
}

func checkText(v *validator, field, s string, maxLen int) {
	switch {
	case s == "":
		v.add(field, "is required")
	case len(s) > maxLen:
		v.add(field, "must be at most %d bytes", maxLen)
	case !utf8.ValidString(s) || hasControl(s):
		v.add(field, "must be printable UTF-8 text")
	}
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) { // C0, DEL and C1 (U+0085 breaks lines in some tools)
			return true
		}
	}
	return false
}

// ValidSKU reports whether s is a well-formed SKU. SKUs keep to a conservative alphabet
// because they appear in URLs, logs and metric labels.
func ValidSKU(s string) bool {
	if s == "" || len(s) > maxSKUByteCount {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// ReservationPlan returns the items to reserve for lines, sorted by SKU so that every
// transaction locks stock rows in the same order and concurrent reservations cannot deadlock.
func ReservationPlan(lines []Line) []Item {
	items := make([]Item, 0, len(lines))
	for _, l := range lines {
		items = append(items, Item{SKU: l.SKU, Quantity: l.Quantity})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].SKU < items[j].SKU })
	return items
}

// Package readmodel holds the shapes the read side answers with: order lists and sales
// reports, built from projections of the order events.
package readmodel

import (
	"errors"
	"time"
)

// ErrBadCursor is returned for a page cursor this service did not hand out.
var ErrBadCursor = errors.New("readmodel: bad cursor")

// OrderFilter selects orders to list. An empty Storefront lists every storefront's.
type OrderFilter struct {
	Storefront, Status, CustomerID string
	Limit                          int
	Cursor                         string // from a previous page's next cursor
}

// OrderSummary is one row of an order list.
type OrderSummary struct {
	ID, Status, CustomerID, Currency string
	Total                            int64
	AcceptedAt, UpdatedAt            time.Time
}

// SalesRow is one day's sales of one SKU in one currency: orders that held it, units, and
// revenue in minor units (refunds taken off the day of the sale).
type SalesRow struct {
	Day                    time.Time
	SKU, Currency          string
	Orders, Units, Revenue int64
}

package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/readmodel"
)

// Pagination bounds of GET /v1/orders.
const (
	defaultPageSize = 20
	maxPageSize     = 100
	maxReportDays   = 366
)

type orderSummaryJSON struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	CustomerID string    `json:"customer_id"`
	Currency   string    `json:"currency"`
	Total      int64     `json:"total"`
	AcceptedAt time.Time `json:"accepted_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

type orderListJSON struct {
	Orders     []orderSummaryJSON `json:"orders"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// listOrders pages through the caller's orders (every storefront's for an admin), newest first.
func (a *API) listOrders(w http.ResponseWriter, r *http.Request, p access.Principal) {
	q := r.URL.Query()
	f := readmodel.OrderFilter{Storefront: p.Storefront, Status: q.Get("status"), CustomerID: q.Get("customer_id"),
		Limit: defaultPageSize, Cursor: q.Get("cursor")}
	if f.Status != "" && !order.Status(f.Status).Valid() {
		writeError(w, r, a.d.Log, &statusError{status: http.StatusBadRequest, field: "status", detail: "must be an order status"})
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, r, a.d.Log, &statusError{status: http.StatusBadRequest, field: "limit", detail: "must be an integer from 1 to 100"})
			return
		}
		f.Limit = n
	}
	page, next, err := a.d.Orders.ListOrders(r.Context(), f)
	if errors.Is(err, readmodel.ErrBadCursor) {
		err = &statusError{status: http.StatusBadRequest, field: "cursor", detail: "must be a next_cursor this API gave"}
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	out := orderListJSON{Orders: make([]orderSummaryJSON, len(page)), NextCursor: next}
	for i, o := range page {
		out.Orders[i] = orderSummaryJSON{ID: o.ID, Status: o.Status, CustomerID: o.CustomerID, Currency: o.Currency,
			Total: o.Total, AcceptedAt: o.AcceptedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
	}
	writeJSON(w, http.StatusOK, out)
}

type salesRowJSON struct {
	Day      string `json:"day"`
	SKU      string `json:"sku"`
	Currency string `json:"currency"`
	Orders   int64  `json:"orders"`
	Units    int64  `json:"units"`
	Revenue  int64  `json:"revenue"`
}

type salesReportJSON struct {
	From string         `json:"from"`
	To   string         `json:"to"`
	Rows []salesRowJSON `json:"rows"`
}

// salesReport answers sales per day and SKU for the days from..to (UTC, inclusive).
func (a *API) salesReport(w http.ResponseWriter, r *http.Request, _ access.Principal) {
	q := r.URL.Query()
	from, errFrom := time.Parse(time.DateOnly, q.Get("from"))
	to, errTo := time.Parse(time.DateOnly, q.Get("to"))
	var bad error
	switch {
	case errFrom != nil:
		bad = &statusError{status: http.StatusBadRequest, field: "from", detail: "must be a date, YYYY-MM-DD"}
	case errTo != nil:
		bad = &statusError{status: http.StatusBadRequest, field: "to", detail: "must be a date, YYYY-MM-DD"}
	case to.Before(from) || to.Sub(from) > maxReportDays*24*time.Hour:
		bad = &statusError{status: http.StatusBadRequest, field: "to", detail: "must be on or after from, at most 366 days later"}
	}
	if bad != nil {
		writeError(w, r, a.d.Log, bad)
		return
	}
	rows, err := a.d.Orders.SalesReport(r.Context(), from, to)
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	out := salesReportJSON{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), Rows: make([]salesRowJSON, len(rows))}
	for i, x := range rows {
		out.Rows[i] = salesRowJSON{Day: x.Day.Format(time.DateOnly), SKU: x.SKU, Currency: x.Currency, Orders: x.Orders, Units: x.Units, Revenue: x.Revenue}
	}
	writeJSON(w, http.StatusOK, out)
}

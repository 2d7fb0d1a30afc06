package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/readmodel"
	"github.com/shopflow/orders/events"
)

// GetProjectedOrder reads an order from the read side, or an error wrapping order.ErrNotFound
// when the projection has not seen it (yet).
func (s *Store) GetProjectedOrder(ctx context.Context, id string) (*order.Order, error) {
	var p order.PlaceParams
	var status string
	var lines, history []byte
	err := s.pool.QueryRow(ctx, `SELECT id::text, storefront, customer_id, currency, status, lines, history, accepted_at
		FROM proj_orders WHERE id = $1`, id).Scan(&p.ID, &p.Storefront, &p.CustomerID, &p.Currency, &status, &lines, &history, &p.AcceptedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("projected order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("projected order %s: %w", id, unavailable(err))
	}
	var ls []events.LineV1
	var hs []struct {
		Version int       `json:"version"`
		Status  string    `json:"status"`
		Reason  string    `json:"reason"`
		At      time.Time `json:"at"`
	}
	if err := errors.Join(json.Unmarshal(lines, &ls), json.Unmarshal(history, &hs)); err != nil {
		return nil, fmt.Errorf("projected order %s: %w", id, err)
	}
	for _, l := range ls {
		p.Lines = append(p.Lines, order.Line(l))
	}
	changes := make([]order.Change, len(hs))
	for i, h := range hs {
		changes[i] = order.Change{Version: h.Version, Status: order.Status(h.Status), Reason: h.Reason, At: h.At}
	}
	return order.Rehydrate(p, order.Status(status), "", changes), nil
}

// ListOrders returns a page of orders, newest first, and the cursor of the next page ("" on
// the last). The page boundary is an order id (time-ordered UUIDs), so orders placed while a
// client walks the pages never shift the pages it has not read yet: no order appears twice
// and none that existed is skipped.
func (s *Store) ListOrders(ctx context.Context, f readmodel.OrderFilter) ([]readmodel.OrderSummary, string, error) {
	after := "ffffffff-ffff-ffff-ffff-ffffffffffff"
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || !events.ValidID(string(b)) {
			return nil, "", readmodel.ErrBadCursor
		}
		after = string(b)
	}
	rows, err := s.pool.Query(ctx, `SELECT id::text, status, customer_id, currency, total, accepted_at, updated_at FROM proj_orders
		WHERE id < $1 AND ($2 = '' OR storefront = $2) AND ($3 = '' OR status = $3) AND ($4 = '' OR customer_id = $4)
		ORDER BY id DESC LIMIT $5`, after, f.Storefront, f.Status, f.CustomerID, f.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list orders: %w", unavailable(err))
	}
	page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (readmodel.OrderSummary, error) {
		var o readmodel.OrderSummary
		return o, r.Scan(&o.ID, &o.Status, &o.CustomerID, &o.Currency, &o.Total, &o.AcceptedAt, &o.UpdatedAt)
	})
	if err != nil {
		return nil, "", fmt.Errorf("list orders: %w", unavailable(err))
	}
	if len(page) <= f.Limit {
		return page, "", nil
	}
	page = page[:f.Limit]
	return page, base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].ID)), nil
}

// SalesReport returns the sales of the days from..to (inclusive), by day and SKU.
func (s *Store) SalesReport(ctx context.Context, from, to time.Time) ([]readmodel.SalesRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT day, sku, currency, orders, units, revenue FROM proj_sales_daily
		WHERE day BETWEEN $1 AND $2 AND orders <> 0 ORDER BY day, sku, currency`, from, to)
	if err != nil {
		return nil, fmt.Errorf("sales report: %w", unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (readmodel.SalesRow, error) {
		var x readmodel.SalesRow
		return x, r.Scan(&x.Day, &x.SKU, &x.Currency, &x.Orders, &x.Units, &x.Revenue)
	})
	if err != nil {
		return nil, fmt.Errorf("sales report: %w", unavailable(err))
	}
	return out, nil
}

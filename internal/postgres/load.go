package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/order"
)

// GetOrder returns the order with its lines and history, or an error wrapping
// order.ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, id string) (*order.Order, error) {
	return loadOrder(ctx, s.pool, id, "")
}

// OrderStatus returns the status of order id (one read, no transaction), or an error wrapping
// order.ErrNotFound.
func (s *Store) OrderStatus(ctx context.Context, id string) (order.Status, error) {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("order %s status: %w", id, unavailable(err))
	}
	return order.Status(status), nil
}

// batcher is what loadOrder needs of a pool or a transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// loadOrder reads an order in one round trip; lock " FOR UPDATE" holds its row until the
// transaction ends.
func loadOrder(ctx context.Context, db batcher, id, lock string) (*order.Order, error) {
	b := &pgx.Batch{}
	l := queueLoadOrder(b, id, lock)
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("get order %s: %w", id, unavailable(err))
	}
	return l.order()
}

// orderLoad is an order being read by statements queued in a batch, so that reading it costs
// no round trip of its own: order() has it once the batch has run.
type orderLoad struct {
	id             string
	found          bool
	p              order.PlaceParams
	status, authID string
	history        []order.Change
}

// queueLoadOrder queues the three reads of order id (the row, its lines, its history) on b.
// With lock " FOR UPDATE" the row is locked first, and the lines and history that follow in
// the batch are read after the lock is held.
func queueLoadOrder(b *pgx.Batch, id, lock string) *orderLoad {
	l := &orderLoad{id: id}
	b.Queue(`SELECT id::text, storefront, customer_id, currency, payment_token, status, authorization_id, accepted_at
		FROM orders WHERE id = $1`+lock, id).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&l.p.ID, &l.p.Storefront, &l.p.CustomerID, &l.p.Currency, &l.p.PaymentToken, &l.status, &l.authID, &l.p.AcceptedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		l.found = err == nil
		return err
	})
	b.Queue(`SELECT sku, quantity, unit_price FROM order_lines WHERE order_id = $1 ORDER BY line_no`, id).Query(func(rows pgx.Rows) error {
		var err error
		l.p.Lines, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (order.Line, error) {
			var line order.Line
			return line, r.Scan(&line.SKU, &line.Quantity, &line.UnitPrice)
		})
		return err
	})
	b.Queue(`SELECT version, status, reason, at FROM order_history WHERE order_id = $1 ORDER BY version`, id).Query(func(rows pgx.Rows) error {
		var err error
		l.history, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (order.Change, error) {
			var c order.Change
			var st string
			err := r.Scan(&c.Version, &st, &c.Reason, &c.At)
			c.Status = order.Status(st)
			return c, err
		})
		return err
	})
	return l
}

// order returns the order read, or an error wrapping order.ErrNotFound.
func (l *orderLoad) order() (*order.Order, error) {
	if !l.found {
		return nil, fmt.Errorf("order %s: %w", l.id, order.ErrNotFound)
	}
	return order.Rehydrate(l.p, order.Status(l.status), l.authID, l.history), nil
}

// OrderTraceID returns the id of the trace the order's intake continued, "" when it had none;
// an error wrapping order.ErrNotFound when the order is absent.
func (s *Store) OrderTraceID(ctx context.Context, id string) (string, error) {
	var tid *string
	err := s.pool.QueryRow(ctx, `SELECT trace_id FROM orders WHERE id = $1`, id).Scan(&tid)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("trace id of order %s: %w", id, unavailable(err))
	}
	if tid == nil {
		return "", nil
	}
	return *tid, nil
}

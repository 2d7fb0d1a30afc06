package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/domain/order"
)

// GetOrder returns the order with its lines and history, or an error wrapping
// order.ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, id string) (*order.Order, error) {
	return loadOrder(ctx, s.pool, id, "")
}

// querier is what loadOrder needs of a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadOrder reads an order; lock " FOR UPDATE" holds its row until the transaction ends.
func loadOrder(ctx context.Context, db querier, id, lock string) (*order.Order, error) {
	var p order.PlaceParams
	var status, authID string
	err := db.QueryRow(ctx, `SELECT id::text, storefront, customer_id, currency, payment_token, status, authorization_id, accepted_at
		FROM orders WHERE id = $1`+lock, id).Scan(&p.ID, &p.Storefront, &p.CustomerID, &p.Currency, &p.PaymentToken, &status, &authID, &p.AcceptedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get order %s: %w", id, unavailable(err))
	}
	rows, err := db.Query(ctx, `SELECT sku, quantity, unit_price FROM order_lines WHERE order_id = $1 ORDER BY line_no`, id)
	if err != nil {
		return nil, fmt.Errorf("get order %s lines: %w", id, unavailable(err))
	}
	p.Lines, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (order.Line, error) {
		var l order.Line
		return l, r.Scan(&l.SKU, &l.Quantity, &l.UnitPrice)
	})
	if err != nil {
		return nil, fmt.Errorf("get order %s lines: %w", id, unavailable(err))
	}
	rows, err = db.Query(ctx, `SELECT version, status, reason, at FROM order_history WHERE order_id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("get order %s history: %w", id, unavailable(err))
	}
	history, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (order.Change, error) {
		var c order.Change
		var st string
		err := r.Scan(&c.Version, &st, &c.Reason, &c.At)
		c.Status = order.Status(st)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("get order %s history: %w", id, unavailable(err))
	}
	return order.Rehydrate(p, order.Status(status), authID, history), nil
}

// SetStock sets a SKU's on_hand, creating the SKU if it is new. It returns an error wrapping
// inventory.ErrBelowReserved when on_hand would fall below the units held for orders.
func (s *Store) SetStock(ctx context.Context, sku string, onHand int64) (inventory.Stock, error) {
	st := inventory.Stock{SKU: sku}
	err := s.pool.QueryRow(ctx, `INSERT INTO stock (sku, on_hand) VALUES ($1, $2)
		ON CONFLICT (sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = now()
		WHERE stock.reserved <= EXCLUDED.on_hand
		RETURNING on_hand, reserved`, sku, onHand).Scan(&st.OnHand, &st.Reserved)
	if errors.Is(err, pgx.ErrNoRows) {
		return inventory.Stock{}, fmt.Errorf("set %s to %d: %w", sku, onHand, inventory.ErrBelowReserved)
	}
	if err != nil {
		return inventory.Stock{}, fmt.Errorf("set %s: %w", sku, unavailable(err))
	}
	return st, nil
}

// GetStock returns a SKU's level, or an error wrapping inventory.ErrNotFound.
func (s *Store) GetStock(ctx context.Context, sku string) (inventory.Stock, error) {
	st := inventory.Stock{SKU: sku}
	err := s.pool.QueryRow(ctx, `SELECT on_hand, reserved FROM stock WHERE sku = $1`, sku).Scan(&st.OnHand, &st.Reserved)
	if errors.Is(err, pgx.ErrNoRows) {
		return inventory.Stock{}, fmt.Errorf("stock %s: %w", sku, inventory.ErrNotFound)
	}
	if err != nil {
		return inventory.Stock{}, fmt.Errorf("get stock %s: %w", sku, unavailable(err))
	}
	return st, nil
}

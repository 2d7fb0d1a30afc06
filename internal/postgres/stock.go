package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/inventory"
)

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

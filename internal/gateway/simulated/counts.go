package simulated

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/payment"
)

// Counts returns how many operations of each kind the gateway approved, over every process
// that shares its database: what tests and operators compare with the orders' states to show
// that nothing was charged twice. Kinds with none are absent.
func (g *Gateway) Counts(ctx context.Context) (map[payment.Operation]int, error) {
	rows, err := g.pool.Query(ctx, `
		SELECT operation, count(*) FROM gateway_sim_operations
		WHERE outcome = 'approved' GROUP BY operation`)
	if err != nil {
		return nil, fmt.Errorf("simulated counts: %w", err)
	}
	return collectCounts(rows)
}

// CountsForOrder is Counts for the operations of one order.
func (g *Gateway) CountsForOrder(ctx context.Context, orderID string) (map[payment.Operation]int, error) {
	rows, err := g.pool.Query(ctx, `
		SELECT operation, count(*) FROM gateway_sim_operations
		WHERE outcome = 'approved' AND order_id = $1 GROUP BY operation`, orderID)
	if err != nil {
		return nil, fmt.Errorf("simulated counts for %s: %w", orderID, err)
	}
	return collectCounts(rows)
}

// Replays returns how many calls with idempotencyKey got its first outcome again, or
// payment.ErrNotFound for a key never used.
func (g *Gateway) Replays(ctx context.Context, idempotencyKey string) (int, error) {
	var n int
	err := g.pool.QueryRow(ctx, `SELECT replays FROM gateway_sim_operations WHERE idempotency_key = $1`,
		idempotencyKey).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("simulated replays of %s: %w", idempotencyKey, payment.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("simulated replays of %s: %w", idempotencyKey, err)
	}
	return n, nil
}

func collectCounts(rows pgx.Rows) (map[payment.Operation]int, error) {
	counts := map[payment.Operation]int{}
	var op string
	var n int
	_, err := pgx.ForEachRow(rows, []any{&op, &n}, func() error {
		counts[payment.Operation(op)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("simulated counts: %w", err)
	}
	return counts, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// PlaceOrder applies a PlaceOrder command in one transaction: it records messageID in the
// consumer's inbox, creates the order, reserves every line (SKUs in sorted order, one
// conditional update each) or rejects the order, and appends the resulting events to the
// outbox. It returns the order's last change (status, reason, time), or duplicate=true when
// the message was applied before (nothing changes then).
func (s *Store) PlaceOrder(ctx context.Context, consumer, messageID string, p order.PlaceParams, correlationID string) (last order.Change, duplicate bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		duplicate = false // the closure runs again after a deadlock or serialization failure
		fresh, err := claimInbox(ctx, tx, consumer, messageID)
		if err != nil || !fresh {
			duplicate = true
			return err
		}
		o, err := order.Place(p)
		if err != nil {
			return err
		}
		if err := reserveOrReject(ctx, tx, o, s.now()); err != nil {
			return err
		}
		last = lastChange(o)
		return insertOrder(ctx, tx, o, correlationID)
	})
	if err != nil {
		return order.Change{}, false, fmt.Errorf("place order %s: %w", p.ID, err)
	}
	return last, duplicate, nil
}

func claimInbox(ctx context.Context, tx pgx.Tx, consumer, messageID string) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, consumer, messageID)
	if err != nil {
		return false, fmt.Errorf("inbox: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// reserveOrReject holds stock for every line inside a savepoint, one conditional update per
// SKU in sorted order (so concurrent orders lock rows in the same order and cannot deadlock).
// The first short or unknown SKU rolls the savepoint back and rejects the order.
func reserveOrReject(ctx context.Context, tx pgx.Tx, o *order.Order, now time.Time) error {
	plan := order.ReservationPlan(o.Lines())
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	short, err := reserve(ctx, sp, plan)
	if err != nil {
		return errors.Join(err, sp.Rollback(ctx))
	}
	if short != nil {
		if err := sp.Rollback(ctx); err != nil {
			return fmt.Errorf("roll back reservation: %w", err)
		}
		return o.Reject(short.Text(), now)
	}
	if err := sp.Commit(ctx); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return o.Reserve(plan, now)
}

// reserve sends every conditional update in one round trip and reports the first SKU that
// could not be held, or nil when all were.
func reserve(ctx context.Context, tx pgx.Tx, plan []order.Item) (*inventory.Shortage, error) {
	batch := &pgx.Batch{}
	for _, it := range plan {
		batch.Queue(`UPDATE stock SET reserved = reserved + $2, updated_at = now()
			WHERE sku = $1 AND on_hand - reserved >= $2`, it.SKU, it.Quantity)
	}
	results := tx.SendBatch(ctx, batch)
	failed := -1
	for i := range plan {
		tag, err := results.Exec()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("reserve %s: %w", plan[i].SKU, err), results.Close())
		}
		if tag.RowsAffected() == 0 && failed < 0 {
			failed = i
		}
	}
	if err := results.Close(); err != nil {
		return nil, fmt.Errorf("reserve: %w", err)
	}
	if failed < 0 {
		return nil, nil
	}
	sku := plan[failed].SKU
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM stock WHERE sku = $1)`, sku).Scan(&known); err != nil {
		return nil, fmt.Errorf("look up %s: %w", sku, err)
	}
	reason := inventory.ReasonOutOfStock
	if !known {
		reason = inventory.ReasonUnknownSKU
	}
	return &inventory.Shortage{SKU: sku, Reason: reason}, nil
}

// insertOrder writes a new order with its lines, history, reservations and outbox events in
// one round trip.
func insertOrder(ctx context.Context, tx pgx.Tx, o *order.Order, correlationID string) error {
	envs, err := events.FromOrder(o, correlationID)
	if err != nil {
		return err
	}
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO orders (id, storefront, customer_id, currency, total, payment_token, status, version, accepted_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		o.ID(), o.Storefront(), o.CustomerID(), o.Currency(), o.Total(), o.PaymentToken(),
		string(o.Status()), o.Version(), o.AcceptedAt(), lastChange(o).At)
	queueLines(batch, o)
	queueHistory(batch, o.ID(), o.History())
	if o.Status() == order.StatusReserved {
		plan := order.ReservationPlan(o.Lines())
		for _, it := range plan {
			batch.Queue(`INSERT INTO reservations (order_id, sku, quantity) VALUES ($1, $2, $3)`, o.ID(), it.SKU, it.Quantity)
		}
	}
	queueOutbox(batch, envs)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	return nil
}

func queueLines(batch *pgx.Batch, o *order.Order) {
	lines := o.Lines()
	skus := make([]string, len(lines))
	qty := make([]int64, len(lines))
	price := make([]int64, len(lines))
	for i, l := range lines {
		skus[i], qty[i], price[i] = l.SKU, l.Quantity, l.UnitPrice
	}
	batch.Queue(`INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price)
		SELECT $1, n, sku, qty, price FROM unnest($2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS l(sku, qty, price, n)`,
		o.ID(), skus, qty, price)
}

func queueHistory(batch *pgx.Batch, orderID string, history []order.Change) {
	for _, c := range history {
		batch.Queue(`INSERT INTO order_history (order_id, version, status, reason, at) VALUES ($1, $2, $3, $4, $5)`,
			orderID, c.Version, string(c.Status), c.Reason, c.At)
	}
}

func lastChange(o *order.Order) order.Change {
	h := o.History()
	return h[len(h)-1]
}

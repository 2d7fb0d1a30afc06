package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// TakeIn applies a PlaceOrder command in one transaction, in the saga's shape: it records the
// delivery in the consumer's inbox, creates the order from p, tries to hold stock for every line
// (SKUs in sorted order, one conditional update each), lets decide choose the order's first
// step from what could be held (missing is empty when every line is held, else the reason,
// "out_of_stock: SKU-1"), then writes the order, its reservation and its outbox events. It
// returns the order as decide left it, or duplicate=true when the message was applied before
// (nothing changes then). A reserved order costs four round trips: begin, claim and reserve,
// insert, commit.
func (s *Store) TakeIn(ctx context.Context, d events.Delivery, p order.PlaceParams, decide func(o *order.Order, missing string) error) (taken *order.Order, duplicate bool, err error) {
	err = s.inGroup(ctx, WorkIntake, skusOf(p.Lines), func(tx pgx.Tx) error {
		taken, duplicate = nil, false // the closure runs again after a deadlock or serialization failure
		o, err := order.Place(p)
		if err != nil {
			// A message applied before stays a duplicate, even if rules made stricter since
			// would refuse it now; otherwise the whole transaction rolls back.
			if fresh, cerr := claimInbox(ctx, tx, d); cerr == nil && !fresh {
				duplicate = true
				return nil
			}
			return err
		}
		plan := order.ReservationPlan(o.Lines())
		fresh, short, err := claimAndReserve(ctx, tx, d, plan)
		if err != nil || !fresh {
			duplicate = err == nil
			return err
		}
		var missing string
		if short != nil {
			missing = short.Text()
		}
		if err := decide(o, missing); err != nil {
			return stepError{err}
		}
		if o.Status() != order.StatusReserved && short == nil {
			// decide refused a hold that was made: give the stock back before saving (the
			// savepoint stays defined, for insertOrder to release).
			if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT `+reservationSavepoint); err != nil {
				return fmt.Errorf("roll back reservation: %w", err)
			}
		}
		taken = o
		return insertOrder(ctx, tx, o, d, true)
	})
	var se stepError
	if errors.As(err, &se) {
		return nil, false, fmt.Errorf("take in order %s: %w", p.ID, se.err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("take in order %s: %w", p.ID, err)
	}
	return taken, duplicate, nil
}

// skusOf lists the SKUs of lines: the stock rows an intake may reserve.
func skusOf(lines []order.Line) []string {
	skus := make([]string, len(lines))
	for i, l := range lines {
		skus[i] = l.SKU
	}
	return skus
}

func claimInbox(ctx context.Context, tx pgx.Tx, d events.Delivery) (bool, error) {
	b := &pgx.Batch{}
	var fresh bool
	queueClaimInbox(b, d, &fresh)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, fmt.Errorf("inbox: %w", err)
	}
	return fresh, nil
}

// queueClaimInbox queues the insert that records d's message in its consumer's inbox; *fresh
// says, once the batch has run, whether the message is new (false: it was applied before).
// A delivery without a message queues nothing and is always fresh.
func queueClaimInbox(b *pgx.Batch, d events.Delivery, fresh *bool) {
	*fresh = true
	if !d.Inbox() {
		return
	}
	b.Queue(`INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, d.Consumer, d.MessageID).
		Exec(func(tag pgconn.CommandTag) error {
			*fresh = tag.RowsAffected() == 1
			return nil
		})
}

// reservationSavepoint scopes an order's reservation inside the intake transaction.
const reservationSavepoint = "reservation"

// claimAndReserve claims the message in the inbox and holds stock for every line of plan, in
// one round trip: one conditional update per SKU, in plan's sorted order (so concurrent
// orders lock rows in the same order and cannot deadlock), inside a savepoint. When the
// message was applied before, or a SKU cannot be held, the savepoint is rolled back: fresh is
// false then, or short names the first SKU that could not be held. Otherwise the savepoint
// stays open for insertOrder to release.
func claimAndReserve(ctx context.Context, tx pgx.Tx, d events.Delivery, plan []order.Item) (fresh bool, short *inventory.Shortage, err error) {
	b := &pgx.Batch{}
	queueClaimInbox(b, d, &fresh)
	b.Queue(`SAVEPOINT ` + reservationSavepoint)
	failed := -1
	for i, it := range plan {
		b.Queue(`UPDATE stock SET reserved = reserved + $2, updated_at = now()
			WHERE sku = $1 AND on_hand - reserved >= $2`, it.SKU, it.Quantity).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 && failed < 0 {
				failed = i
			}
			return nil
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, nil, fmt.Errorf("claim inbox and reserve: %w", err)
	}
	if fresh && failed < 0 {
		return true, nil, nil
	}
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT `+reservationSavepoint); err != nil {
		return false, nil, fmt.Errorf("roll back reservation: %w", err)
	}
	if !fresh {
		return false, nil, nil
	}
	sku := plan[failed].SKU
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM stock WHERE sku = $1)`, sku).Scan(&known); err != nil {
		return false, nil, fmt.Errorf("look up %s: %w", sku, err)
	}
	reason := inventory.ReasonOutOfStock
	if !known {
		reason = inventory.ReasonUnknownSKU
	}
	return true, &inventory.Shortage{SKU: sku, Reason: reason}, nil
}

// Refuse records o, an order refused at intake (order.Refuse), with d's inbox row, or returns
// duplicate when d's message was applied before.
func (s *Store) Refuse(ctx context.Context, d events.Delivery, o *order.Order) (duplicate bool, err error) {
	err = s.inGroup(ctx, WorkIntake, nil, func(tx pgx.Tx) error {
		fresh, err := claimInbox(ctx, tx, d)
		if err != nil || !fresh {
			duplicate = err == nil
			return err
		}
		duplicate = false
		return insertOrder(ctx, tx, o, d, false)
	})
	if err != nil {
		return false, fmt.Errorf("refuse order %s: %w", o.ID(), err)
	}
	return duplicate, nil
}

// insertOrder writes a new order with its lines, history, reservations and outbox events in
// one round trip; inReservation releases the reservation's savepoint first. The order keeps
// the id of the trace its intake continued (NULL without one).
func insertOrder(ctx context.Context, tx pgx.Tx, o *order.Order, d events.Delivery, inReservation bool) error {
	envs, tr, err := recordedEvents(ctx, o, d)
	if err != nil {
		return err
	}
	batch := &pgx.Batch{}
	if inReservation {
		batch.Queue(`RELEASE SAVEPOINT ` + reservationSavepoint)
	}
	batch.Queue(`INSERT INTO orders (id, storefront, customer_id, currency, total, payment_token, status, version, accepted_at, updated_at, trace_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), NULLIF($10, ''))`,
		o.ID(), o.Storefront(), o.CustomerID(), o.Currency(), o.Total(), o.PaymentToken(),
		string(o.Status()), o.Version(), o.AcceptedAt(), tr.TraceID())
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

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// UpdateOrder runs one step of an order's saga in a transaction: it records the delivery in
// its consumer's inbox (a message seen before changes nothing and returns duplicate), locks
// and loads the order, lets fn change it, then writes the new status, history, stock effects
// and outbox events (carrying the delivery's correlation id). A delivery without a message
// (a sweep, an operator command) writes no inbox row.
//
// fn may call the payment gateway while the row is locked: a concurrent step of the same
// order waits, and a crash before the commit rolls everything back, so the redelivered
// message repeats the call with the same idempotency key. fn's error rolls back and is
// returned wrapped, unclassified.
//
// Steps that arrive together commit together (saga_group.go); with grouping off
// (GroupConfig.MaxSize 1) each runs in a transaction of its own.
func (s *Store) UpdateOrder(ctx context.Context, d events.Delivery, id string, fn func(*order.Order) error) (duplicate bool, err error) {
	if s.sagas != nil {
		return s.updateOrderInGroup(ctx, d, id, fn)
	}
	return s.updateOrderAlone(ctx, d, id, fn)
}

// updateOrderAlone is UpdateOrder in a transaction of its own.
func (s *Store) updateOrderAlone(ctx context.Context, d events.Delivery, id string, fn func(*order.Order) error) (duplicate bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		duplicate = false // the closure runs again after a deadlock or serialization failure
		// One round trip claims the inbox, locks the order and reads it. So a duplicate, too,
		// waits for the order's lock when another step holds it (at most lock_timeout, then
		// it is retried): a price paid rarely (a redelivery while another step of the same
		// order runs) for half the round trips of every step.
		b := &pgx.Batch{}
		// A step waits at most this long for an order another step holds (that one may be
		// waiting on the payment gateway); then it fails and is retried later, instead of
		// holding a pool connection for as long as the other takes.
		b.Queue(`SET LOCAL lock_timeout = '5s'`)
		var fresh bool
		queueClaimInbox(b, d, &fresh)
		load := queueLoadOrder(b, id, " FOR UPDATE")
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("claim inbox and load order: %w", err)
		}
		if !fresh {
			duplicate = true
			return nil
		}
		o, err := load.order()
		if err != nil {
			return err
		}
		before := o.Version()
		if err := fn(o); err != nil {
			return stepError{err}
		}
		return saveChanges(ctx, tx, o, before, d)
	})
	var se stepError
	if errors.As(err, &se) {
		return false, fmt.Errorf("update order %s: %w", id, se.err) // fn's own error, unclassified
	}
	if err != nil {
		return false, fmt.Errorf("update order %s: %w", id, err)
	}
	return duplicate, nil
}

// stepError carries an error of UpdateOrder's fn through inTx untouched: a payment gateway's
// network error is the gateway's, and must not be taken for a PostgreSQL outage.
type stepError struct{ err error }

func (e stepError) Error() string { return e.err.Error() }

// saveChanges writes what fn recorded: nothing when it recorded nothing.
func saveChanges(ctx context.Context, tx pgx.Tx, o *order.Order, before int, d events.Delivery) error {
	recorded := o.Events()
	if len(recorded) == 0 {
		return nil
	}
	envs, _, err := recordedEvents(ctx, o, d)
	if err != nil {
		return err
	}
	batch := &pgx.Batch{}
	// The version guard is the SQL-level check behind the row lock: a stale writer changes nothing.
	// updated_at is the database's clock (the sweeper compares it with now()); the history
	// keeps the use case's stamps.
	batch.Queue(`UPDATE orders SET status = $2, version = $3, authorization_id = $4, updated_at = now() WHERE id = $1 AND version = $5`,
		o.ID(), string(o.Status()), o.Version(), o.AuthorizationID(), before)
	var fresh []order.Change
	for _, c := range o.History() {
		if c.Version > before {
			fresh = append(fresh, c)
		}
	}
	queueHistory(batch, o.ID(), fresh)
	for _, ev := range recorded {
		queueStockEffect(batch, o.ID(), ev)
	}
	queueOutbox(batch, envs)
	res := tx.SendBatch(ctx, batch)
	tag, err := res.Exec()
	if err == nil && tag.RowsAffected() != 1 {
		err = fmt.Errorf("order %s changed under its lock (version %d)", o.ID(), before)
	}
	if cerr := res.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save order %s: %w", o.ID(), err)
	}
	return nil
}

// stockEffect is what a transition does to stock: the statement each of its items runs, and
// whether the order's reservations go. Items come from order.ReservationPlan, in SKU order.
func stockEffect(ev order.Event) (items []order.Item, update string, release bool) {
	switch e := ev.(type) {
	case order.Confirmed: // the units leave the warehouse: on_hand and reserved both drop
		return e.Items, `UPDATE stock SET on_hand = on_hand - $2, reserved = reserved - $2, updated_at = now() WHERE sku = $1`, true
	case order.Released: // back to available
		return e.Items, `UPDATE stock SET reserved = reserved - $2, updated_at = now() WHERE sku = $1`, true
	case order.Refunded: // restocked
		return e.Items, `UPDATE stock SET on_hand = on_hand + $2, updated_at = now() WHERE sku = $1`, false
	}
	return nil, "", false
}

// queueStockEffect applies what a transition does to stock, SKUs in sorted order so that
// concurrent transactions cannot deadlock.
func queueStockEffect(batch *pgx.Batch, orderID string, ev order.Event) {
	items, update, release := stockEffect(ev)
	for _, it := range items {
		batch.Queue(update, it.SKU, it.Quantity)
	}
	if release {
		batch.Queue(`DELETE FROM reservations WHERE order_id = $1`, orderID)
	}
}

// OrdersInStatusFor returns up to limit ids of orders that have rested in status for longer
// than age, oldest first. Both the stamps and the cutoff are the database's clock, so processes
// whose clocks disagree still agree on which orders are due.
func (s *Store) OrdersInStatusFor(ctx context.Context, status order.Status, age time.Duration, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM orders WHERE status = $1 AND updated_at < now() - $2::interval
		ORDER BY updated_at LIMIT $3`, string(status), age, limit)
	if err != nil {
		return nil, fmt.Errorf("orders %s for %s: %w", status, age, unavailable(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("orders %s for %s: %w", status, age, unavailable(err))
	}
	return ids, nil
}

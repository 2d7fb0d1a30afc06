package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/telemetry"
)

// outboxChannel is the LISTEN/NOTIFY channel that wakes relays when events are committed.
const outboxChannel = "orders_outbox"

// relayLockKey is the advisory lock that makes one relay at a time publish, so events leave
// in the order they were written (per order: in version order) whatever the fleet size.
const relayLockKey = 0x6f7264657273 // "orders"

// recordedEvents returns the envelopes of the events o recorded, carrying d's correlation id
// and the trace they continue (returned too): the context of ctx's span, the step's own,
// when it has one, else the one d's message brought, so that a trace passes through a
// process that does not trace. It also tells the step's span what the step made of the order.
func recordedEvents(ctx context.Context, o *order.Order, d events.Delivery) ([]events.Envelope, events.Trace, error) {
	telemetry.Annotate(ctx, telemetry.OrderIDKey.String(o.ID()), telemetry.OrderStatusKey.String(string(o.Status())),
		telemetry.StorefrontKey.String(o.Storefront()))
	envs, err := events.FromOrder(o, d.CorrelationID)
	if err != nil {
		return nil, nil, err
	}
	tr := continued(ctx, d)
	for i := range envs {
		envs[i].Trace = tr
	}
	return envs, tr, nil
}

// continued is the trace a step's records continue: the context of ctx's span, the step's own,
// when it has one, else the one d's message brought.
func continued(ctx context.Context, d events.Delivery) events.Trace {
	if tr := telemetry.TraceOf(ctx); tr != nil {
		return tr
	}
	return d.Trace
}

// traceColumn is a trace as a jsonb value: NULL when empty.
func traceColumn(tr events.Trace) map[string]string {
	if len(tr) == 0 {
		return nil
	}
	return map[string]string(tr)
}

func queueOutbox(batch *pgx.Batch, envs []events.Envelope) {
	for _, e := range envs {
		tr := traceColumn(e.Trace)
		batch.Queue(`INSERT INTO outbox (message_id, subject, name, order_id, correlation_id, occurred_at, payload, trace)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.ID, e.Subject, e.Name, e.OrderID, e.CorrelationID, e.OccurredAt, e.Payload, tr)
		// The event store keeps it after the relay deleted the outbox row.
		batch.Queue(`INSERT INTO event_log (message_id, name, order_id, version, occurred_at, payload)
			VALUES ($1, $2, $3, $4, $5, $6)`, e.ID, e.Name, e.OrderID, e.Version, e.OccurredAt, e.Payload)
	}
	if len(envs) > 0 {
		// Delivered at commit, not before: a relay never wakes for rows it cannot see yet.
		batch.Queue(`SELECT pg_notify($1, '')`, outboxChannel)
	}
}

// RelayBatch hands up to limit outbox rows, oldest first, to publish, and deletes them in the
// same transaction once publish returned nil. Rows are read by what is present rather than
// after an offset, so a transaction that commits late is never skipped. If the process dies
// after publishing and before the commit, the rows are published again with the same message
// ids (JetStream's dedup window and the consumers' inbox absorb the repeat).
// It returns the number of rows published: 0 as well when another relay holds the outbox.
//
// The delete commits without waiting for its WAL flush (synchronous_commit off, for this
// transaction only). Forgetting it costs nothing a crash of ours does not already cost: only a
// crash of the PostgreSQL server can forget the last such commits (any later synced commit
// flushes them too), and the rows it brings back are published again with the same message
// ids, exactly as after a crash between publish and commit. At a steady load the relay commits
// about twice per order, so waiting for those flushes was a third of the WAL syncs per order
// (BENCHMARKS.md, session 6), and it held every event behind the previous batch's fsync.
func (s *Store) RelayBatch(ctx context.Context, limit int, publish func(context.Context, []events.Envelope) error) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var locked bool
		err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1) FROM set_config('synchronous_commit', 'off', true)`,
			relayLockKey).Scan(&locked)
		if err != nil {
			return fmt.Errorf("relay lock: %w", err)
		}
		if !locked {
			return nil
		}
		ids, envs, err := readOutbox(ctx, tx, limit)
		if err != nil || len(envs) == 0 {
			return err
		}
		if err := publish(ctx, envs); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("delete relayed rows: %w", err)
		}
		n = len(envs)
		return nil
	})
	return n, err
}

func readOutbox(ctx context.Context, tx pgx.Tx, limit int) ([]int64, []events.Envelope, error) {
	rows, err := tx.Query(ctx, `SELECT id, message_id, subject, name, order_id::text, correlation_id, occurred_at, payload, trace
		FROM outbox ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var ids []int64
	var envs []events.Envelope
	for rows.Next() {
		var id int64
		var e events.Envelope
		var tr map[string]string
		if err := rows.Scan(&id, &e.ID, &e.Subject, &e.Name, &e.OrderID, &e.CorrelationID, &e.OccurredAt, &e.Payload, &tr); err != nil {
			return nil, nil, fmt.Errorf("scan outbox: %w", err)
		}
		e.Trace = tr
		ids = append(ids, id)
		envs = append(envs, e)
	}
	return ids, envs, rows.Err()
}

// OutboxListener wakes a relay when events are committed to the outbox by any process.
type OutboxListener struct {
	conn *pgx.Conn
}

// ListenOutbox opens a dedicated connection (outside the pool, which must not lose one to a
// long wait) and subscribes it to outbox notifications. Notifications that arrive while the
// relay is busy are queued on the connection, so none is missed between two waits.
func (s *Store) ListenOutbox(ctx context.Context) (*OutboxListener, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect outbox listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+outboxChannel); err != nil {
		return nil, errors.Join(fmt.Errorf("listen: %w", err), conn.Close(ctx))
	}
	return &OutboxListener{conn: conn}, nil
}

// Wait returns when a notification arrives (or one was queued), or after timeout: a relay
// polls on timeout so that a lost notification only delays it. Other errors mean the
// connection is gone; close the listener and open a new one.
func (l *OutboxListener) Wait(ctx context.Context, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := l.conn.WaitForNotification(wctx)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return nil // timed out: poll
	}
	if err != nil {
		return fmt.Errorf("wait for outbox notification: %w", err)
	}
	return nil
}

// Close closes the listener's connection.
func (l *OutboxListener) Close(ctx context.Context) error { return l.conn.Close(ctx) }

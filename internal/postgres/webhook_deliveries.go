package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/webhook"
	"github.com/shopflow/orders/events"
)

// RecordWebhooks records, in one transaction with d's inbox row, the deliveries owed for every
// change of the order since the last one planned, and moves the order's cursor past them. It
// returns how many it recorded (0 for a redelivered message, or one whose changes an earlier
// message already covered). The order's cursor row is locked, so two messages of one order
// plan one after the other, and versions are recorded in order.
// plan decides the deliveries owed for the changes after version after, to the storefront's
// enabled endpoints (webhook.Plan with the API's rendering).
func (s *Store) RecordWebhooks(ctx context.Context, d events.Delivery, orderID string,
	plan func(o *order.Order, after int, subs []webhook.Subscription) ([]webhook.Planned, error)) (int, error) {
	var n int
	// Most storefronts have no endpoint: their orders' events cost one query, and record
	// nothing (an endpoint registered later hears only what happens after).
	var any bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders o JOIN webhook_endpoints e
		ON e.storefront = o.storefront AND e.disabled_at IS NULL WHERE o.id = $1)`, orderID).Scan(&any)
	if err != nil {
		return 0, fmt.Errorf("record webhooks of order %s: %w", orderID, unavailable(err))
	}
	if !any {
		return 0, nil
	}
	err = s.inGroup(ctx, WorkWebhooks, nil, func(tx pgx.Tx) error {
		n = 0
		fresh, err := claimInbox(ctx, tx, d)
		if err != nil || !fresh {
			return err
		}
		after, err := lockWebhookCursor(ctx, tx, orderID)
		if err != nil {
			return err
		}
		o, err := loadOrder(ctx, tx, orderID, "")
		if err != nil || o.Version() <= after {
			return err
		}
		subs, err := subscriptions(ctx, tx, o.Storefront())
		if err != nil {
			return err
		}
		planned, err := plan(o, after, subs)
		if err != nil {
			return err
		}
		n = len(planned)
		return saveDeliveries(ctx, tx, orderID, planned, o.Version(), continued(ctx, d))
	})
	if err != nil {
		return 0, fmt.Errorf("record webhooks of order %s: %w", orderID, err)
	}
	return n, nil
}

// lockWebhookCursor returns the last version planned for the order (1: pending is never
// announced), holding its row until the transaction ends.
func lockWebhookCursor(ctx context.Context, tx pgx.Tx, orderID string) (int, error) {
	var v int
	err := tx.QueryRow(ctx, `INSERT INTO webhook_order_cursors (order_id, version) VALUES ($1, 1)
		ON CONFLICT (order_id) DO UPDATE SET version = webhook_order_cursors.version RETURNING version`, orderID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("lock webhook cursor: %w", err)
	}
	return v, nil
}

// subscriptions are the storefront's enabled endpoints.
func subscriptions(ctx context.Context, tx pgx.Tx, storefront string) ([]webhook.Subscription, error) {
	rows, err := tx.Query(ctx, `SELECT id, events, created_at FROM webhook_endpoints
		WHERE storefront = $1 AND disabled_at IS NULL ORDER BY id`, storefront)
	if err != nil {
		return nil, fmt.Errorf("read webhook endpoints: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Subscription, error) {
		var s webhook.Subscription
		return s, r.Scan(&s.EndpointID, &s.Events, &s.Since)
	})
}

// saveDeliveries records the planned deliveries, each with the trace tr of the step that owed
// them, so that its attempts are spans of that trace.
func saveDeliveries(ctx context.Context, tx pgx.Tx, orderID string, planned []webhook.Planned, version int, tr events.Trace) error {
	b := &pgx.Batch{}
	for _, p := range planned {
		b.Queue(`INSERT INTO webhook_deliveries (id, endpoint_id, order_id, version, event_type, payload, trace)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (endpoint_id, order_id, version) DO NOTHING`,
			NewDeliveryID(), p.EndpointID, orderID, p.Version, p.Type, p.Payload, traceColumn(tr))
	}
	b.Queue(`UPDATE webhook_order_cursors SET version = $2 WHERE order_id = $1`, orderID, version)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("save webhook deliveries: %w", err)
	}
	return nil
}

// NewDeliveryID returns a delivery's webhook-id: "msg_" and 32 hex digits.
func NewDeliveryID() string { return "msg_" + strings.ReplaceAll(uuid.NewString(), "-", "") }

// ClaimWebhookDeliveries claims up to limit due deliveries, at most perEndpoint to any one
// endpoint counting the attempts inFlight to it already (those this process is still
// sending), so that a slow endpoint only ever holds its own share. A delivery waits while an
// earlier version of its order to its endpoint is pending: each endpoint hears an order's
// statuses in order. Claiming pushes next_attempt_at lease ahead, committed at once, so a
// process that dies while sending leaves the delivery due again after the lease; SKIP LOCKED
// lets claimers pass one another.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, limit, perEndpoint int, inFlight map[string]int, lease time.Duration) ([]webhook.Due, error) {
	busy, taken := make([]string, 0, len(inFlight)), make([]int32, 0, len(inFlight))
	for id, n := range inFlight {
		busy, taken = append(busy, id), append(taken, int32(n))
	}
	rows, err := s.pool.Query(ctx, `
WITH candidates AS (
    SELECT id FROM (
        SELECT d.id, coalesce(b.taken, 0) + row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.seq) AS slot
        FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled_at IS NULL
        LEFT JOIN unnest($3::text[], $4::int[]) AS b (endpoint_id, taken) ON b.endpoint_id = d.endpoint_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= now()
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id
                          AND p.order_id = d.order_id AND p.version < d.version AND p.status = 'pending')
    ) ranked WHERE slot <= $2 LIMIT $1
), claimed AS (
    SELECT d.id FROM webhook_deliveries d WHERE d.id IN (SELECT id FROM candidates)
      AND d.status = 'pending' AND d.next_attempt_at <= now()
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET next_attempt_at = now() + $5::interval
FROM claimed, webhook_endpoints e
WHERE d.id = claimed.id AND e.id = d.endpoint_id
RETURNING d.id, d.endpoint_id, e.url, d.payload, e.secret, e.previous_secret, coalesce(e.previous_until, 'epoch'), d.tries, d.attempts, d.trace`,
		limit, perEndpoint, busy, taken, interval(lease))
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Due, error) {
		var d webhook.Due
		return d, r.Scan(&d.ID, &d.EndpointID, &d.URL, &d.Payload, &d.Secrets.Current, &d.Secrets.Previous,
			&d.Secrets.PreviousUntil, &d.Tries, &d.Attempts, &d.Trace)
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", unavailable(err))
	}
	return out, nil
}

// FinishWebhookAttempt logs an attempt and moves the delivery on: delivered, failed, or
// pending again retryIn from now (retryIn ≥ 0 with status pending). A success clears the
// endpoint's failing streak; a failure starts one, and disables the endpoint once the streak
// is webhook.DisableAfter old.
func (s *Store) FinishWebhookAttempt(ctx context.Context, id string, a webhook.Attempt, status webhook.Status, retryIn time.Duration) error {
	var httpStatus *int
	if a.HTTPStatus != 0 {
		httpStatus = &a.HTTPStatus
	}
	err := s.inGroup(ctx, WorkWebhooks, nil, func(tx pgx.Tx) error {
		var attempt int
		var endpointID string
		err := tx.QueryRow(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, tries = tries + 1, status = $2,
			next_attempt_at = CASE WHEN $2 = 'pending' THEN now() + $3::interval ELSE next_attempt_at END,
			finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END
			WHERE id = $1 RETURNING attempts, endpoint_id`, id, string(status), interval(retryIn)).Scan(&attempt, &endpointID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // its endpoint was deleted meanwhile: nothing left to log
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO webhook_attempts (delivery_id, attempt, at, duration_ms, http_status, error)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, attempt, a.At, a.Duration.Milliseconds(), httpStatus, a.Error)
		if status == webhook.StatusDelivered {
			b.Queue(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, endpointID)
		} else {
			b.Queue(`UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()),
				disabled_at = CASE WHEN failing_since <= now() - $2::interval THEN coalesce(disabled_at, now()) ELSE disabled_at END
				WHERE id = $1`, endpointID, interval(webhook.DisableAfter))
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("finish webhook attempt of %s: %w", id, err)
	}
	return nil
}

// interval is d as a PostgreSQL interval literal.
func interval(d time.Duration) string {
	return strconv.FormatInt(d.Microseconds(), 10) + " microseconds"
}

// ListWebhookDeliveries returns a page of the endpoint's deliveries, newest first, each with
// its attempts, and the cursor of the next page ("" at the end).
func (s *Store) ListWebhookDeliveries(ctx context.Context, f webhook.DeliveryFilter) ([]webhook.Delivery, string, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, id, endpoint_id, order_id::text, event_type, version, status, created_at,
		CASE WHEN status = 'pending' THEN next_attempt_at END
		FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 = '' OR status = $2) AND ($3 = 0 OR seq < $3)
		ORDER BY seq DESC LIMIT $4`, f.EndpointID, string(f.Status), f.After, f.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook deliveries: %w", unavailable(err))
	}
	var seqs []int64
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Delivery, error) {
		var d webhook.Delivery
		var seq int64
		var st string
		err := r.Scan(&seq, &d.ID, &d.EndpointID, &d.OrderID, &d.Type, &d.Version, &st, &d.CreatedAt, &d.NextAttemptAt)
		d.Status = webhook.Status(st)
		seqs = append(seqs, seq)
		return d, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list webhook deliveries: %w", unavailable(err))
	}
	next := ""
	if len(out) > f.Limit {
		out, next = out[:f.Limit], strconv.FormatInt(seqs[f.Limit-1], 10)
	}
	if err := s.attachAttempts(ctx, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

func (s *Store) attachAttempts(ctx context.Context, ds []webhook.Delivery) error {
	ids := make([]string, len(ds))
	at := map[string]*webhook.Delivery{}
	for i := range ds {
		ids[i] = ds[i].ID
		at[ds[i].ID] = &ds[i]
	}
	rows, err := s.pool.Query(ctx, `SELECT delivery_id, at, duration_ms, coalesce(http_status, 0), error
		FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt`, ids)
	if err != nil {
		return fmt.Errorf("list webhook attempts: %w", unavailable(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a webhook.Attempt
		var ms int64
		if err := rows.Scan(&id, &a.At, &ms, &a.HTTPStatus, &a.Error); err != nil {
			return fmt.Errorf("list webhook attempts: %w", err)
		}
		a.Duration = time.Duration(ms) * time.Millisecond
		at[id].Attempts = append(at[id].Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list webhook attempts: %w", unavailable(err))
	}
	return nil
}

// RedeliverWebhook makes a delivery of the endpoint due now, with a fresh retry schedule,
// whatever became of it; an error wraps webhook.ErrNotFound when the endpoint has none by id.
func (s *Store) RedeliverWebhook(ctx context.Context, endpointID, deliveryID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'pending', tries = 0, next_attempt_at = now(),
		requested_at = now(), finished_at = NULL WHERE id = $1 AND endpoint_id = $2`, deliveryID, endpointID)
	if err != nil {
		return fmt.Errorf("redeliver %s: %w", deliveryID, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook delivery %s: %w", deliveryID, webhook.ErrNotFound)
	}
	return nil
}

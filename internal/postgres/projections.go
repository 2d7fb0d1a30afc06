package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// projTables names one set of projection tables: the live ones, or those a rebuild fills aside.
// lockPrefix makes the advisory lock key that lets one projector at a time bring an order's
// rows in the set up to date. The live set's is empty, the bare order id every release has
// locked, so that processes of two releases exclude each other during a rolling upgrade.
type projTables struct{ orders, sales, counts, stock, checkpoint, lockPrefix string }

var (
	liveTables    = projTables{"proj_orders", "proj_sales_daily", "proj_status_counts", "proj_stock", "live", ""}
	rebuildTables = projTables{"proj_orders_rebuild", "proj_sales_daily_rebuild", "proj_status_counts_rebuild", "proj_stock_rebuild", "rebuild", "rebuild/"}
)

// logEvent is one row of the event store.
type logEvent struct {
	seq     int64
	name    string
	orderID string
	version int
	at      time.Time
	payload []byte
}

// ProjectOrder brings one order's projections up to date with the event store: it applies the
// order's events after the version the projection reached, in version order. The message that
// triggers it only says which order to look at (and, as version, which event it was), so a
// late, duplicated or reordered event can never apply twice or move an order backwards: no
// inbox is needed. An event the projection has passed costs one read and no transaction,
// which matters because the first message of an order's burst usually applies them all. It
// returns how many events it applied (0: the message was stale or a duplicate).
func (s *Store) ProjectOrder(ctx context.Context, orderID string, version int) (int, error) {
	var reached int
	err := s.pool.QueryRow(ctx, `SELECT version FROM proj_orders WHERE id = $1`, orderID).Scan(&reached)
	if err != nil && err != pgx.ErrNoRows {
		return 0, fmt.Errorf("project order %s: %w", orderID, unavailable(err))
	}
	if version > 0 && reached >= version {
		return 0, nil
	}
	var applied int
	err = s.inGroup(ctx, WorkProjection, nil, func(tx pgx.Tx) error {
		n, lastSeq, err := catchUp(ctx, tx, liveTables, orderID)
		if err != nil || n == 0 {
			applied = 0
			return err
		}
		applied = n
		_, err = tx.Exec(ctx, `INSERT INTO projection_checkpoints (projection, position, updated_at) VALUES ($1, $2, now())
			ON CONFLICT (projection) DO UPDATE SET position = GREATEST(projection_checkpoints.position, EXCLUDED.position), updated_at = now()`,
			liveTables.checkpoint, lastSeq)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("project order %s: %w", orderID, err)
	}
	return applied, nil
}

// catchUp applies to t the order's events after the version t reached, in version order, up
// to the first one not committed yet. It returns how many it applied and the highest event
// store seq among them. It holds a lock per order and table set: one projector at a time per
// order, also before the order's first row exists.
func catchUp(ctx context.Context, tx pgx.Tx, t projTables, orderID string) (int, int64, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, t.lockPrefix+orderID); err != nil {
		return 0, 0, err
	}
	var version int
	err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT version FROM %s WHERE id = $1`, t.orders), orderID).Scan(&version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, err
	}
	rows, err := tx.Query(ctx, `SELECT seq, name, order_id::text, version, occurred_at, payload FROM event_log
		WHERE order_id = $1 AND version > $2 ORDER BY version`, orderID, version)
	if err != nil {
		return 0, 0, err
	}
	evs, err := collectEvents(rows)
	if err != nil {
		return 0, 0, err
	}
	return applyEvents(ctx, tx, t, evs, version)
}

func collectEvents(rows pgx.Rows) ([]logEvent, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (logEvent, error) {
		var e logEvent
		return e, r.Scan(&e.seq, &e.name, &e.orderID, &e.version, &e.at, &e.payload)
	})
}

// applyEvents applies evs (one order's, in version order, after version from). It stops at a
// gap: the missing event is not committed yet. It returns how many it applied and the highest
// event store seq among them. The status counters move once for all of evs, by their net
// change: an order that went from pending to confirmed in this call is one decrement and one
// increment, not one of each per step (the counters are hot rows every order updates).
func applyEvents(ctx context.Context, tx pgx.Tx, t projTables, evs []logEvent, from int) (int, int64, error) {
	var maxSeq int64
	n := 0
	counts := map[string]int{}
	for _, e := range evs {
		if e.version != from+n+1 {
			break
		}
		if err := applyEvent(ctx, tx, t, e, counts); err != nil {
			return n, maxSeq, fmt.Errorf("apply %s v%d of %s: %w", e.name, e.version, e.orderID, err)
		}
		n++
		maxSeq = max(maxSeq, e.seq)
	}
	return n, maxSeq, count(ctx, tx, t, counts)
}

func applyEvent(ctx context.Context, tx pgx.Tx, t projTables, e logEvent, counts map[string]int) error {
	ch, ok, err := events.DecodeOrderChange(e.name, e.payload)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if !ok {
		return nil // an event the read side does not show
	}
	status := string(ch.Status)
	if e.name == events.NameOrderPlaced {
		return applyPlaced(ctx, tx, t, e, status, counts)
	}
	change, _ := json.Marshal([]map[string]any{{"version": e.version, "status": status, "reason": ch.Reason, "at": e.at.UTC()}})
	var previous string
	err = tx.QueryRow(ctx, fmt.Sprintf(`UPDATE %[1]s o SET status = $2, version = $3, updated_at = $4, history = o.history || $5::jsonb,
		confirmed_on = CASE WHEN $2 = $6 THEN ($4 AT TIME ZONE 'UTC')::date ELSE o.confirmed_on END
		FROM (SELECT status FROM %[1]s WHERE id = $1) AS before WHERE o.id = $1 AND o.version = $3 - 1 RETURNING before.status`, t.orders),
		e.orderID, status, e.version, e.at, change, string(order.StatusConfirmed)).Scan(&previous)
	if errors.Is(err, pgx.ErrNoRows) {
		// The version guard behind the lock: another projector applied it (one that locks
		// another key, say, during a rolling upgrade). Roll back; the message is retried.
		return fmt.Errorf("projection of %s is not at v%d any more", e.orderID, e.version-1)
	}
	if err != nil {
		return err
	}
	counts[previous]--
	counts[status]++
	return applyEffects(ctx, tx, t, e, ch.Items)
}

func applyPlaced(ctx context.Context, tx pgx.Tx, t projTables, e logEvent, status string, counts map[string]int) error {
	p, err := events.DecodeOrderPlaced(e.payload)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	lines, _ := json.Marshal(p.Lines)
	history, _ := json.Marshal([]map[string]any{{"version": e.version, "status": status, "reason": "", "at": e.at.UTC()}})
	_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id, storefront, customer_id, currency, total, status, lines, history, accepted_at, updated_at, version)
		VALUES ($1, $2, $3, $4, $5, $10, $6, $7, $8, $8, $9)`, t.orders),
		e.orderID, p.Storefront, p.CustomerID, p.Currency, p.Total, lines, history, p.At, e.version, status)
	if err == nil {
		counts[status]++
	}
	return err
}

// count adds the non-zero deltas of counts to the status counters, in one statement, in
// status order.
func count(ctx context.Context, tx pgx.Tx, t projTables, counts map[string]int) error {
	statuses := make([]string, 0, len(counts))
	for s, d := range counts {
		if d != 0 {
			statuses = append(statuses, s)
		}
	}
	if len(statuses) == 0 {
		return nil
	}
	slices.Sort(statuses)
	deltas := make([]int64, len(statuses))
	for i, s := range statuses {
		deltas[i] = int64(counts[s])
	}
	_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %[1]s (status, orders) SELECT * FROM unnest($1::text[], $2::bigint[])
		ON CONFLICT (status) DO UPDATE SET orders = %[1]s.orders + EXCLUDED.orders`, t.counts), statuses, deltas)
	return err
}

// applyEffects moves the stock and sales figures an event changes.
func applyEffects(ctx context.Context, tx pgx.Tx, t projTables, e logEvent, items []events.ItemV1) error {
	stock := func(reserved, sold int) error {
		if len(items) == 0 {
			return nil
		}
		skus, qtys := make([]string, len(items)), make([]int64, len(items))
		for i, it := range items {
			skus[i], qtys[i] = it.SKU, it.Quantity
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %[1]s (sku, reserved, sold)
			SELECT i.sku, $3 * i.quantity, $4 * i.quantity FROM unnest($1::text[], $2::bigint[]) AS i(sku, quantity)
			ON CONFLICT (sku) DO UPDATE SET reserved = %[1]s.reserved + EXCLUDED.reserved, sold = %[1]s.sold + EXCLUDED.sold`, t.stock),
			skus, qtys, reserved, sold)
		return err
	}
	sales := func(sign int) error {
		_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %[1]s (day, sku, currency, orders, units, revenue)
			SELECT o.confirmed_on, l->>'sku', o.currency, $2, $2 * (l->>'quantity')::bigint, $2 * (l->>'quantity')::bigint * (l->>'unit_price')::bigint
			FROM %[2]s o, jsonb_array_elements(o.lines) l WHERE o.id = $1
			ON CONFLICT (day, sku, currency) DO UPDATE SET orders = %[1]s.orders + EXCLUDED.orders,
				units = %[1]s.units + EXCLUDED.units, revenue = %[1]s.revenue + EXCLUDED.revenue`, t.sales, t.orders), e.orderID, sign)
		return err
	}
	switch e.name {
	case events.NameStockReserved:
		return stock(1, 0)
	case events.NameOrderConfirmed:
		if err := stock(-1, 1); err != nil {
			return err
		}
		return sales(1)
	case events.NameOrderCancelled, events.NameOrderExpired:
		return stock(-1, 0)
	case events.NameOrderRefunded:
		if err := stock(0, -1); err != nil {
			return err
		}
		return sales(-1) // off the day of the sale, so a day's figure is what it kept
	}
	return nil
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DefaultRebuildBatch is how many event store rows one rebuild transaction scans.
const DefaultRebuildBatch = 2000

// RebuildProjections rebuilds every projection from the event store, aside from the live
// tables, then swaps them in. It is safe while the service runs: the live projector keeps
// serving until the swap, which holds the live tables for the moment it takes to catch up
// and rename. It resumes from its checkpoint after an interruption. batch is how many event
// store rows a transaction scans (DefaultRebuildBatch when ≤ 0); progress is called after
// each with the position reached and the highest position there was at the start.
//
// The scan walks the event store by seq, but an event is applied the way the live projector
// applies it: each order the scan meets is caught up from the version its rebuilt row reached,
// in version order, up to its first uncommitted event. A seq is taken when the row is
// inserted, so a transaction that commits late leaves a lower seq behind the scan; such an
// event is applied when the scan meets a later event of its order, or at the swap (below).
func (s *Store) RebuildProjections(ctx context.Context, batch int, progress func(done, total int64)) error {
	if batch <= 0 {
		batch = DefaultRebuildBatch
	}
	pos, err := s.prepareRebuild(ctx)
	if err != nil {
		return err
	}
	var total int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM event_log`).Scan(&total); err != nil {
		return unavailable(err)
	}
	for {
		n, next, err := s.replayBatch(ctx, pos, batch)
		if err != nil {
			return err
		}
		pos = next
		progress(pos, max(total, pos))
		if n < batch {
			break
		}
	}
	// Once before the swap too, so that the swap, which holds the live tables, finds little
	// left to apply.
	if err := pgx.BeginFunc(ctx, s.pool, catchUpBehindLive(ctx)); err != nil {
		return fmt.Errorf("catch up before the swap: %w", unavailable(err))
	}
	return s.swapRebuild(ctx)
}

// prepareRebuild creates the rebuild tables, or finds those of an interrupted rebuild, and
// returns the position it reached.
func (s *Store) prepareRebuild(ctx context.Context) (int64, error) {
	var pos int64
	err := s.pool.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projection = 'rebuild'`).Scan(&pos)
	if err == nil {
		return pos, nil // resume
	}
	if err != pgx.ErrNoRows {
		return 0, unavailable(err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, pair := range [][2]string{{rebuildTables.orders, liveTables.orders}, {rebuildTables.sales, liveTables.sales},
			{rebuildTables.counts, liveTables.counts}, {rebuildTables.stock, liveTables.stock}} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s; CREATE TABLE %s (LIKE %s INCLUDING ALL)`, pair[0], pair[0], pair[1])); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (projection, position, updated_at) VALUES ('rebuild', 0, now())`)
		return err
	})
	return 0, err
}

// replayBatch scans up to batch event store rows after pos and catches up the rebuilt
// projection of every order among them, then records the position it scanned to.
func (s *Store) replayBatch(ctx context.Context, pos int64, batch int) (int, int64, error) {
	var n int
	next := pos
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		orders, last, scanned, err := ordersAfter(ctx, tx, pos, batch)
		if err != nil {
			return err
		}
		n, next = scanned, max(pos, last)
		if err := catchUpAll(ctx, tx, rebuildTables, orders); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE projection_checkpoints SET position = $1, updated_at = now() WHERE projection = 'rebuild'`, next)
		return err
	})
	if err != nil {
		return 0, pos, fmt.Errorf("rebuild from seq %d: %w", pos, unavailable(err))
	}
	return n, next, nil
}

// ordersAfter returns the distinct orders of up to limit event store rows after pos (limit
// ≤ 0: all of them), in the order the scan first met them, with the last seq scanned and the
// number of rows.
func ordersAfter(ctx context.Context, tx pgx.Tx, pos int64, limit int) ([]string, int64, int, error) {
	query := `SELECT seq, order_id::text FROM event_log WHERE seq > $1 ORDER BY seq`
	args := []any{pos}
	if limit > 0 {
		query += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, pos, 0, err
	}
	defer rows.Close()
	seen := map[string]bool{}
	var orders []string
	last, n := pos, 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&last, &id); err != nil {
			return nil, pos, 0, err
		}
		n++
		if !seen[id] {
			seen[id] = true
			orders = append(orders, id)
		}
	}
	return orders, last, n, rows.Err()
}

func catchUpAll(ctx context.Context, tx pgx.Tx, t projTables, orders []string) error {
	for _, id := range orders {
		if _, _, err := catchUp(ctx, tx, t, id); err != nil {
			return fmt.Errorf("catch up order %s: %w", id, err)
		}
	}
	return nil
}

// swapRebuild locks the live tables (the live projector waits), catches the rebuilt tables up,
// and renames them into place, all in one transaction. Catching up covers the orders with
// events after the scan's position, and the orders the live projection shows further on than
// the rebuilt one: an event committed late, behind the scan, that the live projector has
// already applied (its message will not come again). Events that neither has seen reach the
// live projector as messages after the swap, and it catches their orders up. Finding the
// orders the live side shows further on joins both order tables under the lock, a scan that
// grows with the number of orders.
func (s *Store) swapRebuild(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE proj_orders, proj_sales_daily, proj_status_counts, proj_stock IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		var pos int64
		if err := tx.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projection = 'rebuild'`).Scan(&pos); err != nil {
			return err
		}
		orders, last, _, err := ordersAfter(ctx, tx, pos, 0)
		if err != nil {
			return err
		}
		if err := catchUpAll(ctx, tx, rebuildTables, orders); err != nil {
			return err
		}
		if err := catchUpBehindLive(ctx)(tx); err != nil {
			return err
		}
		for _, pair := range [][2]string{{rebuildTables.orders, liveTables.orders}, {rebuildTables.sales, liveTables.sales},
			{rebuildTables.counts, liveTables.counts}, {rebuildTables.stock, liveTables.stock}} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`DROP TABLE %[2]s; ALTER TABLE %[1]s RENAME TO %[2]s`, pair[0], pair[1])); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM projection_checkpoints WHERE projection = 'rebuild'`); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO projection_checkpoints (projection, position, updated_at) VALUES ('live', $1, now())
			ON CONFLICT (projection) DO UPDATE SET position = GREATEST(projection_checkpoints.position, EXCLUDED.position), updated_at = now()`,
			max(pos, last))
		return err
	})
	if err != nil {
		return fmt.Errorf("swap rebuilt projections: %w", unavailable(err))
	}
	return nil
}

// catchUpBehindLive catches up the rebuilt projection of every order whose live projection
// reached a later version (or that the rebuild has not met at all).
func catchUpBehindLive(ctx context.Context) func(pgx.Tx) error {
	return func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT l.id::text FROM %s l LEFT JOIN %s r USING (id)
			WHERE r.id IS NULL OR l.version > r.version ORDER BY l.id`, liveTables.orders, rebuildTables.orders))
		if err != nil {
			return err
		}
		behind, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		return catchUpAll(ctx, tx, rebuildTables, behind)
	}
}

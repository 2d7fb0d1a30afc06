package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// rebuildBatch is how many events one rebuild transaction replays.
const rebuildBatch = 2000

// RebuildProjections rebuilds every projection from the event store, aside from the live
// tables, then swaps them in. It is safe while the service runs: the live projector keeps
// serving until the swap, which holds the live tables for the moment it takes to replay the
// last events and rename. It resumes from its checkpoint after an interruption. progress is
// called after each batch with the events replayed and the total.
func (s *Store) RebuildProjections(ctx context.Context, progress func(done, total int64)) error {
	pos, err := s.prepareRebuild(ctx)
	if err != nil {
		return err
	}
	var total int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM event_log`).Scan(&total); err != nil {
		return unavailable(err)
	}
	for {
		n, next, err := s.replayBatch(ctx, pos)
		if err != nil {
			return err
		}
		pos = next
		progress(pos, max(total, pos))
		if n < rebuildBatch {
			break
		}
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

// replayBatch applies the next events after pos to the rebuild tables, in event-store order
// (an order's later events always have higher seqs: they commit after the earlier ones).
func (s *Store) replayBatch(ctx context.Context, pos int64) (int, int64, error) {
	var n int
	next := pos
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, name, order_id::text, version, occurred_at, payload FROM event_log
			WHERE seq > $1 ORDER BY seq LIMIT $2`, pos, rebuildBatch)
		if err != nil {
			return err
		}
		evs, err := collectEvents(rows)
		if err != nil {
			return err
		}
		n = len(evs)
		for _, e := range evs {
			if err := applyEvent(ctx, tx, rebuildTables, e); err != nil {
				return fmt.Errorf("replay seq %d: %w", e.seq, err)
			}
			next = e.seq
		}
		_, err = tx.Exec(ctx, `UPDATE projection_checkpoints SET position = $1, updated_at = now() WHERE projection = 'rebuild'`, next)
		return err
	})
	if err != nil {
		return 0, pos, fmt.Errorf("rebuild from seq %d: %w", pos, unavailable(err))
	}
	return n, next, nil
}

// swapRebuild locks the live tables (the live projector waits), replays what arrived since the
// last batch, and renames the rebuilt tables into place, all in one transaction.
func (s *Store) swapRebuild(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE proj_orders, proj_sales_daily, proj_status_counts, proj_stock IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		var pos int64
		if err := tx.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projection = 'rebuild'`).Scan(&pos); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT seq, name, order_id::text, version, occurred_at, payload FROM event_log WHERE seq > $1 ORDER BY seq`, pos)
		if err != nil {
			return err
		}
		evs, err := collectEvents(rows)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := applyEvent(ctx, tx, rebuildTables, e); err != nil {
				return fmt.Errorf("replay seq %d: %w", e.seq, err)
			}
			pos = e.seq
		}
		for _, pair := range [][2]string{{rebuildTables.orders, liveTables.orders}, {rebuildTables.sales, liveTables.sales},
			{rebuildTables.counts, liveTables.counts}, {rebuildTables.stock, liveTables.stock}} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`DROP TABLE %[2]s; ALTER TABLE %[1]s RENAME TO %[2]s`, pair[0], pair[1])); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM projection_checkpoints WHERE projection = 'rebuild';
			INSERT INTO projection_checkpoints (projection, position, updated_at) VALUES ('live', `+fmt.Sprint(pos)+`, now())
			ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position, updated_at = now()`)
		return err
	})
	if err != nil {
		return fmt.Errorf("swap rebuilt projections: %w", unavailable(err))
	}
	return nil
}

package postgres

import (
	"context"
	"sync"
)

// Bounds of the projection lag scan (see projectionLag).
const (
	// lagFloorMargin keeps the scan's floor this many events below the projection's position:
	// an event's seq is taken at insert, so one committing late can sit below the position
	// for as long as its transaction runs (milliseconds).
	lagFloorMargin = 10_000
	// lagLookback is how far below the position a process's first scrape looks, so that a
	// long event store is never scanned whole at scrape time.
	lagLookback = 200_000
)

// projectionLag finds the events the live projection has not applied, wherever they are. The
// projection's position is the highest seq it applied, so an order left behind while later
// ones moved on sits below it and counting the events after it misses that order. Instead
// each scrape compares every event above a floor with the version its order's projection
// reached. The floor only rises, and never past an unapplied event: below it every event is
// known applied (a projection's version never goes back), so a scrape costs an index range
// scan of about lagFloorMargin events plus the lag itself.
type projectionLag struct {
	mu      sync.Mutex
	floor   int64
	started bool
}

// lagState is one scrape's answer: the position, the events not applied and the age of the
// oldest of them in seconds (0 when caught up).
type lagState struct {
	position, events int64
	age              float64
}

func (l *projectionLag) collect(ctx context.Context, s *Store) (lagState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var st lagState
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE((SELECT position FROM projection_checkpoints WHERE projection = 'live'), 0)`).
		Scan(&st.position); err != nil {
		return lagState{}, err
	}
	if !l.started {
		l.floor, l.started = max(st.position-lagLookback, 0), true
	}
	var first int64
	err := s.pool.QueryRow(ctx, `SELECT count(*), COALESCE(min(e.seq), 0),
			COALESCE(EXTRACT(EPOCH FROM now() - min(e.occurred_at)), 0)::float8
		FROM event_log e LEFT JOIN proj_orders p ON p.id = e.order_id
		WHERE e.seq > $1 AND e.version > COALESCE(p.version, 0)`, l.floor).Scan(&st.events, &first, &st.age)
	if err != nil {
		return lagState{}, err
	}
	next := st.position - lagFloorMargin
	if st.events > 0 {
		next = min(next, first-1)
	}
	l.floor = max(l.floor, next)
	st.age = max(st.age, 0)
	return st, nil
}

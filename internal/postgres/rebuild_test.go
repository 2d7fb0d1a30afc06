package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

// orderFixture places n orders over a few SKUs and takes every third one on to confirmed and
// every fifth to cancelled, then projects them all live. It returns the order ids.
func orderFixture(t *testing.T, s *postgres.Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	setStock(t, s, map[string]int64{"A": 1000, "B": 1000, "C": 1000, "D": 1000})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("0195a0c4-6c1e-7d2a-9b7e-%012d", i+1)
		place(t, s, params(ids[i], line([]string{"A", "B", "C"}[i%3], int64(1+i%4)), line("D", 1)))
		var steps []func(*order.Order) error
		switch {
		case i%3 == 0:
			steps = append(steps, func(o *order.Order) error { return o.Authorize("auth", clock) },
				func(o *order.Order) error { return o.Confirm(clock) })
		case i%5 == 0:
			steps = append(steps, func(o *order.Order) error { return o.Cancel("cancel_requested", clock) })
		}
		for _, step := range steps {
			if _, err := s.UpdateOrder(ctx, events.Unsolicited("c"), ids[i], step); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range ids {
		if _, err := s.ProjectOrder(ctx, id, 0); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestRebuildResumesFromItsCheckpoint interrupts a rebuild after two batches, then runs it
// again: the second run starts where the first stopped and the result equals the live tables.
func TestRebuildResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	orderFixture(t, s, 40)
	live := testenv.ProjectionRows(t, pool)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const batch = 10
	var calls int
	var reached int64
	err := s.RebuildProjections(ctx, batch, func(done, _ int64) {
		if calls++; calls == 2 {
			reached = done
			cancel()
		}
	})
	if err == nil {
		t.Fatal("the interrupted rebuild reported success")
	}
	var checkpoint int64
	if err := pool.QueryRow(context.Background(), `SELECT position FROM projection_checkpoints WHERE projection = 'rebuild'`).
		Scan(&checkpoint); err != nil || checkpoint != reached || reached < 2*batch {
		t.Fatalf("after the interruption: rebuild checkpoint %d (%v), want the %d reached (≥ %d)", checkpoint, err, reached, 2*batch)
	}

	var first int64 = -1
	if err := s.RebuildProjections(context.Background(), batch, func(done, _ int64) {
		if first < 0 {
			first = done
		}
	}); err != nil {
		t.Fatalf("resumed rebuild: %v", err)
	}
	if first != reached+batch {
		t.Errorf("the resumed rebuild's first batch reached %d, want %d: it did not start from the checkpoint", first, reached+batch)
	}
	testenv.SameProjections(t, "live", live, "rebuilt", testenv.ProjectionRows(t, pool))
	if n := count(t, pool, `SELECT count(*) FROM projection_checkpoints WHERE projection = 'rebuild'`); n != 0 {
		t.Errorf("%d rebuild checkpoints left after the swap", n)
	}
}

// TestRebuildTakesAnEventCommittedBehindItsScan commits an order's event late, with a seq
// lower than rows the rebuild has already scanned, while the live projector applies it. The
// rebuilt projection must show it too, though no message about it will come again.
func TestRebuildTakesAnEventCommittedBehindItsScan(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	ids := orderFixture(t, s, 6)
	late := ids[1] // reserved (v2), not further

	// An authorize step's transaction takes its seq now and commits later.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `INSERT INTO event_log (message_id, name, order_id, version, occurred_at, payload)
		VALUES ($1, $2, $3, 3, $4, '{}')`, "late-"+late, events.NamePaymentAuthorized, late, clock); err != nil {
		t.Fatal(err)
	}
	// Later events, committed first.
	more := "0195a0c4-6c1e-7d2a-9b7e-100000000001"
	place(t, s, params(more, line("A", 1)))
	if _, err := s.ProjectOrder(ctx, more, 0); err != nil {
		t.Fatal(err)
	}

	var live map[string][]string
	err = s.RebuildProjections(ctx, 1000, func(int64, int64) {
		if live != nil {
			return
		}
		// The scan went past the late event's seq. Now it commits and the live projector,
		// woken by its message, applies it.
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := s.ProjectOrder(ctx, late, 3); err != nil || n != 1 {
			t.Fatalf("live projection of the late event: %d applied, %v", n, err)
		}
		live = testenv.ProjectionRows(t, pool)
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.SameProjections(t, "live", live, "rebuilt", testenv.ProjectionRows(t, pool))
	var status string
	var version int
	if err := pool.QueryRow(ctx, `SELECT status, version FROM proj_orders WHERE id = $1`, late).Scan(&status, &version); err != nil ||
		status != "authorized" || version != 3 {
		t.Errorf("rebuilt order %s: %s v%d (%v), want authorized v3", late, status, version, err)
	}
}

package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/batching"
)

// Saga steps in groups. A step may call the payment gateway while it holds its order's row
// lock, so a group of steps cannot run its units one after the other as the other kinds of
// work do: each would wait on the network behind the ones before it. A saga group runs in three
// phases instead, in one transaction:
//
//  1. it locks and loads every unit's order, in order id order, and reads whether each unit's
//     message was applied before (one round trip);
//  2. it runs every unit's step at once, outside PostgreSQL (each may call the gateway),
//     holding those locks as a lone step holds its own: the group waits as long as its slowest
//     call, not the sum of them;
//  3. it locks the stock rows the steps change, in SKU order, then writes each unit under a
//     savepoint of its own, its inbox row inside it, and commits once.
//
// Locks are taken orders first (by id), then stock rows (by SKU), and the intake takes only
// stock rows, by SKU: no cycle forms between groups. (A process with grouping off, in a fleet
// with grouping on, claims a step's inbox row before it locks the order; a message handled by
// both at once can then deadlock, which PostgreSQL detects and the step retries.) Stock rows
// are locked after the gateway calls, so the intake never waits on the network. Two steps of
// one order never share a group: the later runs in the next one and sees what the earlier
// wrote. An order another transaction holds (a step of another group waiting on the gateway)
// is skipped, not waited for: its step runs alone, waiting for the lock as a lone step does,
// so a busy order never fails the steps beside it.
//
// A unit whose step fails, panics or runs past its deadline (a minute), or whose writes fail, leaves
// nothing (its savepoint, its inbox row included); the others commit. A group whose transaction
// fails leaves nothing of any unit, and each is retried as a whole, its gateway call included
// (same idempotency key), as after a crash before a lone step's commit.

// sagaUnit is one saga step in a group.
type sagaUnit struct {
	ctx       context.Context
	d         events.Delivery
	id        string
	fn        func(*order.Order) error
	duplicate bool
}

// sagaSlots is how many saga groups run at once per process (at least 2): while one waits on
// the gateway, the next forms and runs.
func sagaSlots(committers int) int { return max(2, committers) }

// defaultSagaStepDeadline bounds phase 2 (GroupConfig.SagaStepDeadline): a step still running
// then (a gateway that hangs) fails, so that it does not hold its group's locks and connection,
// and the group's other steps commit. Its retry repeats the gateway call with the same
// idempotency key. It is well inside the group's own deadline, which phase 3 needs too.
const defaultSagaStepDeadline = groupDeadline / 2

// errOrderBusy: another transaction holds the unit's order; the unit runs alone instead.
var errOrderBusy = errors.New("order locked by another transaction")

func (s *Store) updateOrderInGroup(ctx context.Context, d events.Delivery, id string, fn func(*order.Order) error) (bool, error) {
	u := &sagaUnit{ctx: ctx, d: d, id: id, fn: fn}
	err := retrying(func() error {
		u.duplicate = false
		return s.sagas.Do(ctx, u)
	})
	if errors.Is(err, errOrderBusy) {
		return s.updateOrderAlone(ctx, d, id, fn)
	}
	var se stepError
	if errors.As(err, &se) {
		return false, fmt.Errorf("update order %s: %w", id, se.err) // fn's own error, unclassified
	}
	if err != nil {
		return false, fmt.Errorf("update order %s: %w", id, err)
	}
	return u.duplicate, nil
}

// runSagas is the saga queue's run function: it runs group as one saga group or more, so that
// no two steps of one order share one.
func (s *Store) runSagas(group []*batching.Item[*sagaUnit]) {
	for len(group) > 0 {
		var now, later []*batching.Item[*sagaUnit]
		ids := make(map[string]bool, len(group))
		for _, it := range group {
			if ids[it.Value.id] {
				later = append(later, it)
				continue
			}
			ids[it.Value.id] = true
			now = append(now, it)
		}
		s.sagaGroup(now)
		group = later
	}
}

// sagaStep is one unit's progress through its group.
type sagaStep struct {
	it     *batching.Item[*sagaUnit]
	load   *orderLoad
	seen   bool // its message was applied before
	o      *order.Order
	before int
	ran    bool // its step returned within the deadline
	err    error
}

// sagaGroup runs units (each of another order) as one group.
func (s *Store) sagaGroup(units []*batching.Item[*sagaUnit]) {
	if s.observe != nil {
		s.observe(WorkSaga, len(units))
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupDeadline)
	defer cancel()
	steps := make([]*sagaStep, len(units))
	for i, it := range units {
		steps[i] = &sagaStep{it: it}
	}
	slices.SortFunc(steps, func(a, b *sagaStep) int { return cmp.Compare(a.it.Value.id, b.it.Value.id) })
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		finish(units, fmt.Errorf("begin saga group: %w", err))
		return
	}
	// Whatever happens below, a panic included, the transaction ends and its locks go (a no-op
	// after the commit; the connection may be gone).
	defer func() { _ = tx.Rollback(context.Background()) }()
	abort := func(live []*sagaStep, err error) {
		_ = tx.Rollback(context.Background())
		for _, st := range live {
			st.it.Done(err)
		}
	}
	steps, err = lockAndLoad(ctx, tx, steps)
	if err != nil {
		abort(steps, fmt.Errorf("lock and load the group's orders: %w", err))
		return
	}
	live := runSteps(steps, s.stepDeadline)
	if err := lockStock(ctx, tx, stockKeys(live)); err != nil {
		abort(live, fmt.Errorf("lock the group's stock rows: %w", err))
		return
	}
	items := make([]*batching.Item[*sagaUnit], len(live))
	byItem := make(map[*batching.Item[*sagaUnit]]*sagaStep, len(live))
	for i, st := range live {
		items[i], byItem[st.it] = st.it, st
	}
	applied, err := inSavepoints(ctx, tx, items, func(it *batching.Item[*sagaUnit]) error {
		return saveStep(ctx, tx, byItem[it])
	})
	if err != nil {
		finish(applied, err) // the transaction broke: nothing of these commits
		return
	}
	if err := tx.Commit(ctx); err != nil {
		finish(applied, fmt.Errorf("commit saga group of %d: %w", len(units), err))
		return
	}
	finish(applied, nil)
}

// lockAndLoad takes the group's limits and locks the steps' orders (steps are in order id
// order), skipping those another transaction holds: their steps finish with errOrderBusy and
// run alone. Then it loads each locked order and reads whether its step's message was applied
// before. It returns the steps whose order it holds.
func lockAndLoad(ctx context.Context, tx pgx.Tx, steps []*sagaStep) ([]*sagaStep, error) {
	ids := make([]string, len(steps))
	for i, st := range steps {
		ids[i] = st.it.Value.id
	}
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL lock_timeout = '5s'`)
	b.Queue(`SET LOCAL statement_timeout = '60s'`)
	var locked []string
	b.Queue(`SELECT id::text FROM orders WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE SKIP LOCKED`, ids).
		Query(func(rows pgx.Rows) error {
			var err error
			locked, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return steps, err
	}
	held := steps[:0:0]
	for _, st := range steps {
		if slices.Contains(locked, st.it.Value.id) {
			held = append(held, st)
		} else {
			st.it.Done(errOrderBusy) // or absent: the lone step says so
		}
	}
	b = &pgx.Batch{}
	for _, st := range held {
		st.load = queueLoadOrder(b, st.it.Value.id, "")
		if d := st.it.Value.d; d.Inbox() {
			b.Queue(`SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2)`, d.Consumer, d.MessageID).
				QueryRow(func(row pgx.Row) error { return row.Scan(&st.seen) })
		}
	}
	return held, tx.SendBatch(ctx, b).Close()
}

// runSteps runs every step whose message is new on its loaded order, all at once, and finishes
// the others (a duplicate: done, nothing to write; a missing order or a failed step: its
// error). It returns the steps left to write, in order id order.
func runSteps(steps []*sagaStep, stepDeadline time.Duration) []*sagaStep {
	type outcome struct {
		st  *sagaStep
		err error
	}
	running := 0
	results := make(chan outcome, len(steps)) // buffered: a step past the deadline still ends
	for _, st := range steps {
		u := st.it.Value
		switch {
		case u.ctx.Err() != nil:
			st.err = u.ctx.Err()
			continue
		case st.seen:
			u.duplicate = true
			continue
		}
		if st.o, st.err = st.load.order(); st.err != nil {
			continue
		}
		st.before = st.o.Version()
		running++
		go func() { results <- outcome{st, runStep(u.fn, st.o)} }()
	}
	deadline := time.NewTimer(stepDeadline)
	defer deadline.Stop()
	for running > 0 {
		select {
		case r := <-results:
			r.st.err, r.st.ran = r.err, true
			running--
		case <-deadline.C:
			// The steps still running are given up: nothing of theirs is written, whatever
			// they do to their orders from now on.
			for _, st := range steps {
				if st.o != nil && !st.ran && st.err == nil {
					st.err = fmt.Errorf("%w: saga step still running after %s", fault.ErrUnavailable, stepDeadline)
				}
			}
			running = 0
		}
	}
	var live []*sagaStep
	for _, st := range steps {
		switch {
		case st.err != nil:
			st.it.Done(st.err)
		case st.it.Value.duplicate:
			st.it.Done(nil)
		default:
			live = append(live, st)
		}
	}
	return live
}

// runStep runs a unit's step: its error (and a panic, as an error) is the unit's own, passed
// through unclassified.
func runStep(fn func(*order.Order) error, o *order.Order) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = stepError{fmt.Errorf("panic in a saga step: %v\n%s", r, debug.Stack())}
		}
	}()
	if err := fn(o); err != nil {
		return stepError{err}
	}
	return nil
}

// stockKeys are the stock rows the steps' transitions change, sorted and once each.
func stockKeys(steps []*sagaStep) []string {
	var skus []string
	for _, st := range steps {
		for _, ev := range st.o.Events() {
			items, _, _ := stockEffect(ev)
			for _, it := range items {
				skus = append(skus, it.SKU)
			}
		}
	}
	slices.Sort(skus)
	return slices.Compact(skus)
}

// saveStep writes one step: its inbox row and what its step recorded. Its statements keep the
// unit's context values (its trace) and take their cancellation from the group. A panic is the
// unit's error: its savepoint takes its work back, and the group goes on.
func saveStep(group context.Context, tx pgx.Tx, st *sagaStep) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while saving a saga step: %v\n%s", r, debug.Stack())
		}
	}()
	u := st.it.Value
	ctx := unitContext{group, u.ctx}
	fresh, err := claimInbox(ctx, tx, u.d)
	if err != nil {
		return err
	}
	if !fresh { // another process claimed it since phase 1 (one with grouping off claims before it locks)
		return fmt.Errorf("message %s of %s claimed by another transaction while order %s was locked", u.d.MessageID, u.d.Consumer, u.id)
	}
	return saveChanges(ctx, tx, st.o, st.before, u.d)
}

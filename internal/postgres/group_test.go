package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

// groupStore is a store with one committer and the sizes of its groups, over a fresh database
// with a table t(n) for units to write.
func groupStore(t *testing.T) (*postgres.Store, *pgxpool.Pool, func() []int) {
	t.Helper()
	pool := testenv.Pool(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE t (n int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sizes []int
	store, err := postgres.NewStore(pool, postgres.GroupConfig{Committers: 1, MaxSize: 64, Observe: func(_ postgres.Work, n int) {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, n)
	}})
	if err != nil {
		t.Fatal(err)
	}
	return store, pool, func() []int { mu.Lock(); defer mu.Unlock(); return slices.Clone(sizes) }
}

func insert(n int) func(pgx.Tx) error {
	return func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO t (n) VALUES ($1)`, n)
		return err
	}
}

func rows(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	r, err := pool.Query(context.Background(), `SELECT n FROM t ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := pgx.CollectRows(r, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// holdCommitter runs a unit that keeps the only committer busy until release is called, so
// that the units queued meanwhile form the next group, in the order they were queued.
func holdCommitter(t *testing.T, store *postgres.Store) (queue func(skus []string, fn func(pgx.Tx) error) <-chan error, release func()) {
	t.Helper()
	held, free := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- store.RunInGroup(context.Background(), nil, func(tx pgx.Tx) error { close(held); <-free; return insert(0)(tx) })
	}()
	<-held
	queue = func(skus []string, fn func(pgx.Tx) error) <-chan error {
		before := store.QueuedUnits()
		done := make(chan error, 1)
		go func() { done <- store.RunInGroup(context.Background(), skus, fn) }()
		for store.QueuedUnits() == before {
			time.Sleep(time.Millisecond)
		}
		return done
	}
	return queue, func() {
		close(free)
		if err := <-first; err != nil {
			t.Errorf("the holding unit: %v", err)
		}
	}
}

func TestGroupCommitCommitsConcurrentUnitsTogether(t *testing.T) {
	t.Parallel()
	store, pool, sizes := groupStore(t)
	const units = 200
	var wg sync.WaitGroup
	errs := make(chan error, units)
	for i := range units {
		wg.Go(func() { errs <- store.RunInGroup(context.Background(), nil, insert(i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(rows(t, pool)); got != units {
		t.Fatalf("%d rows, want %d", got, units)
	}
	s := sizes()
	total := 0
	for _, n := range s {
		total += n
	}
	if total != units || slices.Max(s) < 2 {
		t.Errorf("group sizes %v: want %d units in all, in groups of more than one (one committer, %d callers at once)", s, units, units)
	}
	t.Logf("%d units committed in %d groups (largest %d)", units, len(s), slices.Max(s))
}

// A unit that fails rolls back alone, with what it wrote; the units before and after it in the
// same group commit, and each caller gets its own unit's outcome.
func TestGroupCommitRollsBackAFailedUnitAlone(t *testing.T) {
	t.Parallel()
	store, pool, sizes := groupStore(t)
	queue, release := holdCommitter(t, store)
	refused := errors.New("refused by the unit")
	good1 := queue(nil, insert(10))
	bad := queue(nil, func(tx pgx.Tx) error {
		if err := insert(20)(tx); err != nil {
			return err
		}
		return refused
	})
	conflict := queue(nil, insert(10)) // a unique violation: PostgreSQL aborts the unit's statements
	good2 := queue(nil, insert(30))
	release()

	if err := <-good1; err != nil {
		t.Errorf("first unit: %v", err)
	}
	if err := <-bad; !errors.Is(err, refused) {
		t.Errorf("failing unit: %v, want its own error", err)
	}
	if err := <-conflict; err == nil {
		t.Error("conflicting unit: no error")
	}
	if err := <-good2; err != nil {
		t.Errorf("unit after the failures: %v", err)
	}
	if got := rows(t, pool); !slices.Equal(got, []int{0, 10, 30}) {
		t.Errorf("rows %v, want [0 10 30]: the failed units' writes rolled back, the others' committed", got)
	}
	if s := sizes(); !slices.Equal(s, []int{1, 4}) {
		t.Errorf("group sizes %v, want [1 4]", s)
	}
}

// A crash while a group is half done (some units applied, the commit not reached) applies none
// of it: the connection drops as it would when the process dies, PostgreSQL rolls the group's
// transaction back, and every caller gets an error, so every message is redelivered.
func TestGroupCommitCrashMidGroupAppliesNothing(t *testing.T) {
	t.Parallel()
	store, pool, _ := groupStore(t)
	queue, release := holdCommitter(t, store)
	backend, proceed := make(chan int, 1), make(chan struct{})
	applied := queue(nil, insert(1))
	halfway := queue(nil, func(tx pgx.Tx) error {
		if err := insert(2)(tx); err != nil {
			return err
		}
		var pid int
		if err := tx.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			return err
		}
		backend <- pid
		<-proceed
		return nil
	})
	release()
	pid := <-backend
	var killed bool
	if err := pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the group's backend %d: %v %v", pid, killed, err)
	}
	close(proceed)
	if err := <-applied; err == nil {
		t.Error("a unit of the lost group reported success")
	}
	if err := <-halfway; err == nil {
		t.Error("the unit running at the crash reported success")
	}
	if got := rows(t, pool); !slices.Equal(got, []int{0}) {
		t.Errorf("rows %v, want [0]: nothing of the half-done group", got)
	}
	// The store goes on with a new connection.
	if err := store.RunInGroup(context.Background(), nil, insert(3)); err != nil {
		t.Errorf("after the crash: %v", err)
	}
}

// A caller that gives up (its context ends while its unit runs) breaks neither its group's
// connection nor the other units: its statements run to the end, and the group commits.
func TestGroupCommitSurvivesACallerThatGivesUp(t *testing.T) {
	t.Parallel()
	store, pool, _ := groupStore(t)
	queue, release := holdCommitter(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	slow := queue(nil, func(tx pgx.Tx) error {
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := tx.Exec(ctx, `SELECT pg_sleep(0.3)`)
		return err
	})
	after := queue(nil, insert(5))
	release()
	if err := <-slow; err != nil {
		t.Errorf("the slow unit: %v", err)
	}
	if err := <-after; err != nil {
		t.Errorf("the unit after it: %v", err)
	}
	if got := rows(t, pool); !slices.Equal(got, []int{0, 5}) {
		t.Errorf("rows %v, want [0 5]", got)
	}
}

// The intake's group locks the stock rows of all its units first, in SKU order, as a saga step
// locks them: a transaction taking SKU-A then SKU-B, while the group's units reserve SKU-B then
// SKU-A, waits for the group instead of deadlocking with it (without the prelock PostgreSQL
// found a deadlock after deadlock_timeout and failed the transaction).
func TestGroupCommitLocksStockInOrderFirst(t *testing.T) {
	t.Parallel()
	store, pool, _ := groupStore(t)
	setStock(t, store, map[string]int64{"SKU-A": 10, "SKU-B": 10})
	reserve := func(tx pgx.Tx, sku string) error {
		_, err := tx.Exec(context.Background(), `UPDATE stock SET reserved = reserved + 1 WHERE sku = $1`, sku)
		return err
	}
	queue, release := holdCommitter(t, store)
	tookB := make(chan struct{})
	first := queue([]string{"SKU-B"}, func(tx pgx.Tx) error {
		if err := reserve(tx, "SKU-B"); err != nil {
			return err
		}
		close(tookB)
		time.Sleep(300 * time.Millisecond) // the step below starts meanwhile
		return nil
	})
	second := queue([]string{"SKU-A"}, func(tx pgx.Tx) error { return reserve(tx, "SKU-A") })
	step := make(chan error, 1)
	go func() {
		<-tookB
		step <- pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
			for _, sku := range []string{"SKU-A", "SKU-B"} { // sorted, as saveChanges does
				if _, err := tx.Exec(context.Background(), `UPDATE stock SET on_hand = on_hand - 1 WHERE sku = $1`, sku); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	release()
	for name, ch := range map[string]<-chan error{"first unit": first, "second unit": second, "saga-like step": step} {
		if err := <-ch; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for sku, want := range map[string]inventory.Stock{"SKU-A": {OnHand: 9, Reserved: 1}, "SKU-B": {OnHand: 9, Reserved: 1}} {
		if got := stock(t, store, sku); got.OnHand != want.OnHand || got.Reserved != want.Reserved {
			t.Errorf("%s: %+v, want on hand %d, reserved %d", sku, got, want.OnHand, want.Reserved)
		}
	}
}

// A panic in a unit is that unit's error: its work is rolled back, the units beside it commit,
// and the committer goes on (before, the slot and the group's transaction were never freed,
// and every later unit of that kind waited for ever).
func TestGroupCommitSurvivesAPanickingUnit(t *testing.T) {
	t.Parallel()
	store, pool, _ := groupStore(t)
	queue, release := holdCommitter(t, store)
	first := queue(nil, insert(1))
	panicking := queue(nil, func(tx pgx.Tx) error {
		if err := insert(2)(tx); err != nil {
			return err
		}
		panic("a bug in a unit")
	})
	last := queue(nil, insert(3))
	release()
	if err := <-panicking; err == nil || !strings.Contains(err.Error(), "a bug in a unit") {
		t.Errorf("the panicking unit: %v, want its panic as its error", err)
	}
	for _, ch := range []<-chan error{first, last} {
		if err := <-ch; err != nil {
			t.Errorf("a unit beside it: %v", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- store.RunInGroup(context.Background(), nil, insert(4)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("a unit after it: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a unit after the panic never ran: the committer is stuck")
	}
	if got := rows(t, pool); !slices.Equal(got, []int{0, 1, 3, 4}) {
		t.Errorf("rows %v, want [0 1 3 4]", got)
	}
}

// A caller whose context ends while its unit waits for a committer gets its unit back, undone,
// at once; the unit never runs.
func TestGroupCommitCallerGivesUpWhileQueued(t *testing.T) {
	t.Parallel()
	store, pool, _ := groupStore(t)
	_, release := holdCommitter(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- store.RunInGroup(ctx, nil, insert(7)) }()
	for store.QueuedUnits() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the withdrawn unit: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a caller that gave up still waits for a committer")
	}
	release()
	if got := rows(t, pool); !slices.Equal(got, []int{0}) {
		t.Errorf("rows %v, want [0]: the withdrawn unit never runs", got)
	}
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/internal/batching"
)

// Group commit: units of work that arrive together commit together. Each unit runs under its
// own savepoint in a transaction shared with the units queued beside it, and the transaction
// commits once (one WAL flush) for all of them. A unit that fails is rolled back to its
// savepoint alone, with its locks, and the others commit; its caller gets its error (a
// deadlock or serialization failure is retried by inTx in a later group). Every caller returns
// only once its unit has committed or failed, so a message is acknowledged only after the
// commit that applied it, and a crash before that commit applies none of the group.
//
// There is no timer and no background goroutine: a caller that finds a committer slot free
// runs a group of whatever is queued, up to GroupConfig.MaxSize units, its own among them. At
// low load every unit finds a free slot and runs alone, as a plain transaction would; under
// load units queue while the slots are busy, and the groups grow by themselves.
//
// Hot rows. A group holds every lock its units took until it commits, and units contend for
// a few hot rows (a popular SKU's stock, the read side's per-status counters). Two groups open
// at once, in one process or in two, would deadlock whenever two of their units took two such
// rows in opposite orders (seen in make bench with 4 committers sharing all work: PostgreSQL's
// deadlock_timeout, 1 s, at every turn). So a group takes its hot locks first, all at once,
// in one order (prelock):
//   - the intake locks the stock rows of every SKU its units will reserve, in SKU order, the
//     order saga steps lock them in too: no cycle through stock rows can form;
//   - the projection and the webhook bookkeeping take a lock of their kind: one group of each
//     at a time in the whole fleet, which never contends with itself.
// Each kind of work has committers of its own (one per process by default).

// Work is a kind of grouped work; each has its own committers.
type Work string

// The kinds of grouped work.
const (
	WorkIntake     Work = "intake"
	WorkProjection Work = "projection"
	WorkWebhooks   Work = "webhooks"
	// WorkSaga is the saga steps, grouped their own way (saga_group.go).
	WorkSaga Work = "saga"
)

var works = []Work{WorkIntake, WorkProjection, WorkWebhooks}

// GroupConfig sizes group commit. The zero value gives the defaults.
type GroupConfig struct {
	// Committers is how many groups of one kind of work run at once, each on its own pool
	// connection (default 1).
	Committers int
	// MaxSize caps the units of one group (default 32; 1 turns grouping off: one transaction
	// per unit, as without group commit).
	MaxSize int
	// Observe, when set, is told the size of every group that committed or failed.
	Observe func(w Work, size int)
	// SagaStepDeadline is how long a saga group waits for its steps (their gateway calls);
	// a step still running then fails and is retried later (default 1 minute).
	SagaStepDeadline time.Duration
}

const (
	defaultCommitters = 1
	// groupDeadline bounds a whole group, and groupLimits its waits inside PostgreSQL (a
	// saga step waits at most 5 s for a lock too).
	groupDeadline       = 2 * time.Minute
	groupLimits         = `SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '60s'`
	defaultMaxGroupSize = 32
	// unitSavepoint scopes one unit inside its group. Units nest savepoints of their own
	// (the intake's reservation) inside it.
	unitSavepoint = "group_unit"
)

type committer struct {
	pool    *pgxpool.Pool
	queue   *batching.Queue[*unit]
	observe func(int) // nil: not observed
	// prelock takes the group's hot locks before any unit runs, given the sorted union of the
	// units' keys.
	prelock func(ctx context.Context, tx pgx.Tx, keys []string) error
}

type unit struct {
	ctx  context.Context
	keys []string // what prelock locks for it
	fn   func(pgx.Tx) error
}

// newCommitters returns a committer per kind of work.
func newCommitters(pool *pgxpool.Pool, cfg GroupConfig) map[Work]*committer {
	if cfg.Committers <= 0 {
		cfg.Committers = defaultCommitters
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = defaultMaxGroupSize
	}
	cs := make(map[Work]*committer, len(works))
	for _, w := range works {
		c := &committer{pool: pool, prelock: lockWork(w)}
		c.queue = batching.New(cfg.Committers, cfg.MaxSize, c.commit)
		if w == WorkIntake {
			c.prelock = lockStock
		}
		if cfg.Observe != nil {
			c.observe = func(n int) { cfg.Observe(w, n) }
		}
		cs[w] = c
	}
	return cs
}

// lockStock locks the stock rows of skus, in SKU order.
func lockStock(ctx context.Context, tx pgx.Tx, skus []string) error {
	if len(skus) == 0 {
		return nil
	}
	// COLLATE "C": byte order, as order.ReservationPlan sorts the SKUs saga steps lock; the
	// column's own collation may order "SKU-a" and "SKU-B" the other way round.
	_, err := tx.Exec(ctx, `SELECT 1 FROM stock WHERE sku = ANY($1) ORDER BY sku COLLATE "C" FOR UPDATE`, skus)
	return err
}

// lockWork returns a prelock that takes w's own lock: one group of w at a time.
func lockWork(w Work) func(context.Context, pgx.Tx, []string) error {
	return func(ctx context.Context, tx pgx.Tx, _ []string) error {
		_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "orders.group."+string(w))
		return err
	}
}

// run queues fn as a unit, with the keys its kind's prelock takes for it, and returns once it
// has committed (nil) or failed (its error, or the group's when the group's transaction
// failed). While it waits, its caller runs groups whenever a committer slot is free, its own
// unit's or others' (batching.Queue).
func (c *committer) run(ctx context.Context, keys []string, fn func(pgx.Tx) error) error {
	return c.queue.Do(ctx, &unit{ctx: ctx, keys: keys, fn: fn})
}

// commit runs group in one transaction. It never returns before every unit of group is done.
func (c *committer) commit(group []*batching.Item[*unit]) {
	if c.observe != nil {
		c.observe(len(group))
	}
	// The group's own statements are not any unit's: a unit's caller giving up must not break
	// the others' transaction. The group has a deadline of its own instead, and PostgreSQL
	// bounds its waits: a group that hangs (a server that stopped answering) fails all its
	// units rather than holding its kind of work, and its locks, for ever.
	ctx, cancel := context.WithTimeout(context.Background(), groupDeadline)
	defer cancel()
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		finish(group, fmt.Errorf("begin group: %w", err))
		return
	}
	if _, err := tx.Exec(ctx, groupLimits); err != nil {
		c.abort(tx, group, fmt.Errorf("limit the group's waits: %w", err))
		return
	}
	if err := c.prelock(ctx, tx, unionOfKeys(group)); err != nil {
		c.abort(tx, group, fmt.Errorf("lock the group's rows: %w", err))
		return
	}
	applied, err := inSavepoints(ctx, tx, group, func(it *batching.Item[*unit]) error {
		if err := it.Value.ctx.Err(); err != nil {
			return err
		}
		return runUnit(ctx, tx, it.Value)
	})
	if err != nil {
		c.abort(tx, applied, err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		finish(applied, fmt.Errorf("commit group of %d: %w", len(group), err))
		return
	}
	finish(applied, nil)
}

// inSavepoints runs each of units on tx in turn, each under the unit savepoint, and finishes
// at once every unit whose run fails (rolled back to its savepoint, it leaves nothing: its
// caller may retry at once). It returns the units whose work stays in the transaction, to
// finish once it commits. When the transaction itself breaks (a savepoint cannot be opened or
// rolled back to), it returns an error, and the units not finished yet are the ones returned:
// nothing of them will commit.
func inSavepoints[T any](ctx context.Context, tx pgx.Tx, units []*batching.Item[T], run func(*batching.Item[T]) error) ([]*batching.Item[T], error) {
	var applied []*batching.Item[T]
	opened := false
	for i, it := range units {
		// One round trip closes the previous unit's savepoint (its work stays in the group)
		// and opens this one's.
		open := `SAVEPOINT ` + unitSavepoint
		if opened {
			open = `RELEASE SAVEPOINT ` + unitSavepoint + `; ` + open
		}
		if _, err := tx.Exec(ctx, open); err != nil {
			return append(applied, units[i:]...), fmt.Errorf("open unit: %w", err)
		}
		opened = true
		err := run(it)
		if err == nil {
			applied = append(applied, it)
			continue
		}
		if _, rerr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT `+unitSavepoint); rerr != nil {
			it.Done(err)
			return append(applied, units[i+1:]...), fmt.Errorf("roll back a failed unit: %w", rerr)
		}
		it.Done(err)
	}
	return applied, nil
}

// runUnit runs u's work on the group's transaction. A panic in it is that unit's error: the
// savepoint takes its work back, and the group, its slot and its locks go on.
func runUnit(group context.Context, tx pgx.Tx, u *unit) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in a unit of a group commit: %v\n%s", r, debug.Stack())
		}
	}()
	return u.fn(unitTx{tx: tx, group: group})
}

// abort ends a group whose transaction broke: none of its units committed, and units ends
// with err.
func (c *committer) abort(tx pgx.Tx, units []*batching.Item[*unit], err error) {
	_ = tx.Rollback(context.Background()) // the connection may be gone; the error is err
	finish(units, err)
}

func unionOfKeys(group []*batching.Item[*unit]) []string {
	var keys []string
	for _, it := range group {
		keys = append(keys, it.Value.keys...)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func finish[T any](units []*batching.Item[T], err error) {
	for _, it := range units {
		it.Done(err)
	}
}

// unitTx is the group's transaction as one unit sees it. Its statements keep the unit's
// context values (trace spans) but take their cancellation and deadline from the group: pgx
// closes a connection whose statement is cancelled, which would fail every unit of the group
// for one caller that gave up. A unit cannot end the group's transaction; it can nest
// savepoints (Begin).
type unitTx struct {
	tx    pgx.Tx
	group context.Context
}

// unitContext is the group's context with a unit's values.
type unitContext struct {
	context.Context // the group's: Deadline, Done, Err
	values          context.Context
}

func (c unitContext) Value(key any) any { return c.values.Value(key) }

func (u unitTx) ctx(ctx context.Context) context.Context { return unitContext{u.group, ctx} }

var errUnitEndsGroup = errors.New("postgres: a unit of a group cannot commit or roll back the group's transaction")

func (u unitTx) Begin(ctx context.Context) (pgx.Tx, error) { return u.tx.Begin(u.ctx(ctx)) }
func (u unitTx) Commit(context.Context) error              { return errUnitEndsGroup }
func (u unitTx) Rollback(context.Context) error            { return errUnitEndsGroup }
func (u unitTx) CopyFrom(ctx context.Context, t pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return u.tx.CopyFrom(u.ctx(ctx), t, cols, src)
}
func (u unitTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return u.tx.SendBatch(u.ctx(ctx), b)
}
func (u unitTx) LargeObjects() pgx.LargeObjects { return u.tx.LargeObjects() }
func (u unitTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return u.tx.Prepare(u.ctx(ctx), name, sql)
}
func (u unitTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return u.tx.Exec(u.ctx(ctx), sql, args...)
}
func (u unitTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return u.tx.Query(u.ctx(ctx), sql, args...)
}
func (u unitTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return u.tx.QueryRow(u.ctx(ctx), sql, args...)
}
func (u unitTx) Conn() *pgx.Conn { return u.tx.Conn() }

package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/internal/batching"
)

// Store reads and writes orders, stock, the inbox and the outbox.
type Store struct {
	pool   *pgxpool.Pool
	groups map[Work]*committer
	// sagas groups saga steps (saga_group.go); nil with grouping off.
	sagas        *batching.Queue[*sagaUnit]
	stepDeadline time.Duration
	observe      func(w Work, size int) // nil: group sizes not observed
}

// NewStore returns a store over pool, committing its groupable work in groups sized by group
// (see GroupConfig; the zero value is the defaults). The store keeps no clock: the stamps the
// rules need come from the use cases that change an order.
func NewStore(pool *pgxpool.Pool, group GroupConfig) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: NewStore needs a pool")
	}
	s := &Store{pool: pool, groups: newCommitters(pool, group), observe: group.Observe,
		stepDeadline: cmp.Or(group.SagaStepDeadline, defaultSagaStepDeadline)}
	if group.MaxSize != 1 {
		s.sagas = batching.New(sagaSlots(group.Committers), cmp.Or(group.MaxSize, defaultMaxGroupSize), s.runSagas)
	}
	return s, nil
}

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error { return unavailable(s.pool.Ping(ctx)) }

// inTx runs fn in a transaction of its own: work that is not grouped (a saga step with grouping
// off, or one whose order another transaction holds; see saga_group.go).
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return retrying(func() error { return pgx.BeginFunc(ctx, s.pool, fn) })
}

// inGroup runs fn as one unit of a group commit of w's work (group.go): in a transaction
// shared with the units of w queued beside it, under a savepoint of its own. fn must talk
// only to PostgreSQL. keys are the hot rows fn will lock, taken for the whole group before
// any unit runs (for the intake: the SKUs it reserves; other work: none).
func (s *Store) inGroup(ctx context.Context, w Work, keys []string, fn func(pgx.Tx) error) error {
	return retrying(func() error { return s.groups[w].run(ctx, keys, fn) })
}

// retrying runs try again when PostgreSQL reports a serialization failure or a deadlock,
// which are safe to retry as a whole (in a group: the failed unit alone).
func retrying(try func() error) error {
	const attempts = 5
	var err error
	for i := 0; i < attempts; i++ {
		err = try()
		if !retryable(err) {
			return unavailable(err)
		}
	}
	return unavailable(fmt.Errorf("after %d attempts: %w", attempts, err))
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

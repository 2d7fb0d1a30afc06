package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store reads and writes orders, stock, the inbox and the outbox.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a store over pool. The store keeps no clock: the stamps the rules need
// come from the use cases that change an order.
func NewStore(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: NewStore needs a pool")
	}
	return &Store{pool: pool}, nil
}

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error { return unavailable(s.pool.Ping(ctx)) }

// inTx runs fn in a transaction and runs it again when PostgreSQL reports a serialization
// failure or a deadlock, which are safe to retry as a whole.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	const attempts = 5
	var err error
	for i := 0; i < attempts; i++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
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

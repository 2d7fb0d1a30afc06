package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// RunInGroup runs fn as a unit of s's intake group commit, reserving skus, for the tests of
// group.go.
func (s *Store) RunInGroup(ctx context.Context, skus []string, fn func(pgx.Tx) error) error {
	return s.inGroup(ctx, WorkIntake, skus, fn)
}

// QueuedUnits is how many units wait for a committer.
func (s *Store) QueuedUnits() int {
	return s.groups[WorkIntake].queue.Queued()
}

// QueuedSagaSteps is how many saga steps wait for a group.
func (s *Store) QueuedSagaSteps() int { return s.sagas.Queued() }

package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// RunInGroup runs fn as a unit of s's group commit, for the tests of group.go.
func (s *Store) RunInGroup(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.inGroup(ctx, fn)
}

// QueuedUnits is how many units wait for a committer.
func (s *Store) QueuedUnits() int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.pending)
}

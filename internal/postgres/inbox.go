package postgres

import (
	"context"
	"fmt"
	"time"
)

// PruneInbox deletes up to limit inbox rows processed before cutoff, oldest first, and returns
// how many it deleted. A message whose row is gone is treated as new if it is ever delivered
// again, so cutoff must lie beyond the longest time a stream keeps a message.
func (s *Store) PruneInbox(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM inbox WHERE ctid IN (
		SELECT ctid FROM inbox WHERE processed_at < $1 ORDER BY processed_at LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("prune inbox: %w", unavailable(err))
	}
	return tag.RowsAffected(), nil
}

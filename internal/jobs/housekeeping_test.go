package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/internal/jobs"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

// TestPruneInboxKeepsWhatAStreamCouldRedeliver fills the inbox with rows of several ages and
// prunes it in small batches: exactly the rows past the retention go.
func TestPruneInboxKeepsWhatAStreamCouldRedeliver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Pool(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	store, err := postgres.NewStore(pool, postgres.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ages := map[time.Duration]int{ // age → rows
		time.Hour: 5, 30 * 24 * time.Hour: 7, 31*24*time.Hour - time.Minute: 3,
		31*24*time.Hour + time.Minute: 11, 90 * 24 * time.Hour: 4,
	}
	i := 0
	for age, n := range ages {
		for range n {
			i++
			if _, err := pool.Exec(ctx, `INSERT INTO inbox (consumer, message_id, processed_at) VALUES ('c', $1, $2)`,
				fmt.Sprint("m-", i), now.Add(-age)); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg := prometheus.NewRegistry()
	h, err := jobs.NewHousekeeper(store, jobs.HousekeepingConfig{Batch: 4}, func() time.Time { return now }, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	pruned, err := h.PruneInbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left, old int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE processed_at < $1) FROM inbox`,
		now.Add(-31*24*time.Hour)).Scan(&left, &old); err != nil {
		t.Fatal(err)
	}
	if pruned != 15 || left != 15 || old != 0 {
		t.Errorf("pruned %d, %d rows left of which %d past the retention; want 15 pruned (in batches of 4), 15 left, 0 old", pruned, left, old)
	}
	if got := testenv.Counter(t, reg, "orders_inbox_pruned_total"); got != 15 {
		t.Errorf("orders_inbox_pruned_total = %v, want 15", got)
	}
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pruner deletes up to limit inbox rows recorded before a cutoff and says how many it deleted.
type Pruner interface {
	PruneInbox(ctx context.Context, before time.Time, limit int) (int64, error)
}

// HousekeepingConfig says what to keep and how often to look.
type HousekeepingConfig struct {
	// InboxRetention is how long an inbox row is kept. A message can be redelivered only while
	// its stream holds it, so this must outlast the streams' MaxAge (30 days for events);
	// default 31 days.
	InboxRetention time.Duration
	// Interval between runs; default 1 hour. Batch: rows per delete; default 10,000.
	Interval time.Duration
	Batch    int
}

// Housekeeper keeps the database from growing without bound: it prunes, every Interval, the
// inbox rows that no redelivery can need any more.
type Housekeeper struct {
	store  Pruner
	cfg    HousekeepingConfig
	now    func() time.Time
	log    *slog.Logger
	pruned prometheus.Counter
}

// NewHousekeeper returns a housekeeper over store.
func NewHousekeeper(store Pruner, cfg HousekeepingConfig, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*Housekeeper, error) {
	if store == nil || now == nil || log == nil || reg == nil {
		return nil, errors.New("jobs: NewHousekeeper needs every dependency")
	}
	if cfg.InboxRetention <= 0 {
		cfg.InboxRetention = 31 * 24 * time.Hour
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 10_000
	}
	h := &Housekeeper{store: store, cfg: cfg, now: now, log: log,
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_inbox_pruned_total", Help: "Inbox rows deleted after their retention.",
		}),
	}
	if err := reg.Register(h.pruned); err != nil {
		return nil, fmt.Errorf("register housekeeping metrics: %w", err)
	}
	return h, nil
}

// Run prunes at once and then every Interval until ctx ends; it returns nil then.
func (h *Housekeeper) Run(ctx context.Context) error {
	return every(ctx, h.cfg.Interval, h.log, "inbox pruning", func(ctx context.Context) error {
		_, err := h.PruneInbox(ctx)
		return err
	})
}

// PruneInbox deletes every inbox row older than the retention, a batch per transaction so
// that no long transaction holds the table, and returns how many it deleted.
func (h *Housekeeper) PruneInbox(ctx context.Context) (int64, error) {
	cutoff := h.now().Add(-h.cfg.InboxRetention)
	var total int64
	for ctx.Err() == nil {
		n, err := h.store.PruneInbox(ctx, cutoff, h.cfg.Batch)
		total += n
		h.pruned.Add(float64(n))
		if err != nil {
			return total, fmt.Errorf("prune inbox rows before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		if n < int64(h.cfg.Batch) {
			break
		}
	}
	if total > 0 {
		h.log.InfoContext(ctx, "inbox pruned", "rows", total, "before", cutoff)
	}
	return total, nil
}

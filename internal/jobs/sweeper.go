package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// Lister finds orders that have rested in a status for longer than age, oldest first, by the
// database's clock (see postgres.Store.OrdersInStatusFor).
type Lister interface {
	OrdersInStatusFor(ctx context.Context, status order.Status, age time.Duration, limit int) ([]string, error)
}

// Saga is the use cases the sweeper drives orders with; see saga.Service.
type Saga interface {
	Expire(ctx context.Context, d events.Delivery, id string) error
	Capture(ctx context.Context, d events.Delivery, id string) error
	Park(ctx context.Context, d events.Delivery, id, reason string) error
}

// SweepConfig says when an order has waited too long.
type SweepConfig struct {
	// ReservationTTL: a reserved order not authorized by then expires; default 15m.
	ReservationTTL time.Duration
	// StuckAfter: an authorized order not captured by then is driven on; default 5m.
	StuckAfter time.Duration
	// Interval between sweeps; default 5s. Batch: orders per status per sweep; default 100.
	Interval time.Duration
	Batch    int
}

// Sweeper drives orders that no message will move any more, so that nothing waits forever.
type Sweeper struct {
	saga Saga
	list Lister
	cfg  SweepConfig
	log  *slog.Logger
	// failures counts, per status swept, consecutive failed sweeps per order. An order whose
	// sweep keeps failing is parked in needs_attention, so it neither waits forever nor blocks
	// the orders behind it (each sweep takes the oldest first). Each sweep keeps only the
	// orders it found still due, so orders that moved on are forgotten.
	failures map[order.Status]map[string]int
}

// sweepAttempts is how many sweeps of one order may fail before it is parked.
const sweepAttempts = 5

// origin correlates the sweeper's work, which no message carried (so it writes no inbox row).
const origin = "sweeper"

// NewSweeper returns a sweeper that acts through saga.
func NewSweeper(saga Saga, list Lister, cfg SweepConfig, log *slog.Logger) (*Sweeper, error) {
	if saga == nil || list == nil || log == nil {
		return nil, errors.New("jobs: NewSweeper needs every dependency")
	}
	if cfg.ReservationTTL <= 0 {
		cfg.ReservationTTL = 15 * time.Minute
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = 5 * time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	return &Sweeper{saga: saga, list: list, cfg: cfg, log: log, failures: map[order.Status]map[string]int{}}, nil
}

// Run sweeps at once and then every Interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) error {
	return every(ctx, s.cfg.Interval, s.log, "sweep", func(ctx context.Context) error {
		_, err := s.Sweep(ctx)
		return err
	})
}

// Sweep expires reservations past their TTL (voiding any stray authorization first) and
// captures orders left authorized. It returns how many orders it changed or tried.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	expired, err1 := s.each(ctx, order.StatusReserved, s.cfg.ReservationTTL, s.saga.Expire)
	driven, err2 := s.each(ctx, order.StatusAuthorized, s.cfg.StuckAfter, s.saga.Capture)
	return expired + driven, errors.Join(err1, err2)
}

func (s *Sweeper) each(ctx context.Context, status order.Status, age time.Duration, drive func(context.Context, events.Delivery, string) error) (int, error) {
	ids, err := s.list.OrdersInStatusFor(ctx, status, age, s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	before, failures := s.failures[status], map[string]int{}
	s.failures[status] = failures
	var errs []error
	for _, id := range ids {
		err := drive(ctx, events.Unsolicited(origin), id)
		if errors.Is(err, fault.ErrUnavailable) { // an outage says nothing about the order
			failures[id] = before[id]
		}
		if err == nil || errors.Is(err, fault.ErrUnavailable) {
			errs = append(errs, err)
			continue
		}
		failures[id] = before[id] + 1
		errs = append(errs, fmt.Errorf("sweep %s order %s (failure %d): %w", status, id, failures[id], err))
		if failures[id] >= sweepAttempts {
			delete(failures, id)
			errs = append(errs, s.saga.Park(ctx, events.Unsolicited(origin), id, "sweep_failed"))
		}
	}
	return len(ids), errors.Join(errs...)
}

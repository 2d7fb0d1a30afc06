package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
)

// Lister finds orders resting in a status since before a cutoff, oldest first.
type Lister interface {
	OrdersInStatusSince(ctx context.Context, status order.Status, cutoff time.Time, limit int) ([]string, error)
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
	h    *Handler
	list Lister
	cfg  SweepConfig
	// failures counts consecutive failed sweeps per order. An order whose sweep keeps failing
	// is parked in needs_attention, so it neither waits forever nor blocks the orders behind
	// it (each sweep takes the oldest first).
	failures map[string]int
}

// sweepAttempts is how many sweeps of one order may fail before it is parked.
const sweepAttempts = 5

// NewSweeper returns a sweeper that acts through h.
func NewSweeper(h *Handler, list Lister, cfg SweepConfig) (*Sweeper, error) {
	if h == nil || list == nil {
		return nil, errors.New("payment: NewSweeper needs a handler and a lister")
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
	return &Sweeper{h: h, list: list, cfg: cfg, failures: map[string]int{}}, nil
}

// Run sweeps every Interval until ctx ends. Failures are logged and retried next sweep.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.h.log.WarnContext(ctx, "sweep failed; retrying next sweep", "err", err)
			}
		}
	}
}

// Sweep expires reservations past their TTL (voiding any stray authorization first) and
// captures orders left authorized. It returns how many orders it changed or tried.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	now := s.h.now()
	expired, err1 := s.each(ctx, order.StatusReserved, now.Add(-s.cfg.ReservationTTL), func(ctx context.Context, o *order.Order) error {
		if o.Status() != order.StatusReserved {
			return nil
		}
		if err := s.h.voidStrayAuthorization(ctx, o); err != nil {
			return err
		}
		return o.Expire(s.h.now())
	})
	driven, err2 := s.each(ctx, order.StatusAuthorized, now.Add(-s.cfg.StuckAfter), func(ctx context.Context, o *order.Order) error {
		if o.Status() != order.StatusAuthorized {
			return nil
		}
		return s.h.capture(ctx, o)
	})
	return expired + driven, errors.Join(err1, err2)
}

func (s *Sweeper) each(ctx context.Context, status order.Status, cutoff time.Time, fn func(context.Context, *order.Order) error) (int, error) {
	ids, err := s.list.OrdersInStatusSince(ctx, status, cutoff, s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, id := range ids {
		err := s.h.run(ctx, "", "", "sweeper", id, fn)
		if err == nil || errors.Is(err, fault.ErrUnavailable) { // an outage says nothing about the order
			delete(s.failures, id)
			errs = append(errs, err)
			continue
		}
		s.failures[id]++
		errs = append(errs, fmt.Errorf("sweep %s order %s (failure %d): %w", status, id, s.failures[id], err))
		if s.failures[id] >= sweepAttempts {
			delete(s.failures, id)
			errs = append(errs, s.h.run(ctx, "", "", "sweeper", id, func(_ context.Context, o *order.Order) error {
				if o.Status().Settled() {
					return nil
				}
				return o.FlagForAttention("sweep_failed", s.h.now())
			}))
		}
	}
	return len(ids), errors.Join(errs...)
}

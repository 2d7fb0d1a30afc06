package jobs

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// listed is a Lister that returns what a test sets, per status.
type listed map[order.Status][]string

func (l listed) OrdersInStatusFor(_ context.Context, status order.Status, _ time.Duration, _ int) ([]string, error) {
	return l[status], nil
}

// failing is a Saga whose every step fails with an error of no kind it knows.
type failing struct{}

func (failing) Expire(context.Context, events.Delivery, string) error       { return errors.New("no") }
func (failing) Capture(context.Context, events.Delivery, string) error      { return errors.New("no") }
func (failing) Park(context.Context, events.Delivery, string, string) error { return nil }

// TestTheSweeperForgetsOrdersThatMovedOn: the failure counts keep only the orders still due.
func TestTheSweeperForgetsOrdersThatMovedOn(t *testing.T) {
	due := listed{order.StatusReserved: {"a", "b"}, order.StatusAuthorized: {"c"}}
	s, err := NewSweeper(failing{}, due, SweepConfig{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Sweep(context.Background())
	due[order.StatusReserved], due[order.StatusAuthorized] = []string{"b"}, nil // a and c moved on
	_, _ = s.Sweep(context.Background())
	if n := len(s.failures[order.StatusReserved]) + len(s.failures[order.StatusAuthorized]); n != 1 || s.failures[order.StatusReserved]["b"] != 2 {
		t.Errorf("failure counts %v; want only b's, at 2", s.failures)
	}
}

package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/fault"
	domainpayment "github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/jobs"
	"github.com/shopflow/orders/internal/testenv"
)

func newSweeper(t *testing.T, s jobs.Saga, list jobs.Lister, cfg jobs.SweepConfig) *jobs.Sweeper {
	t.Helper()
	sw, err := jobs.NewSweeper(s, list, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return sw
}

func TestSweeper(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	const stale, stray, authorized = "0195a0c4-6c1e-7d2a-9b7e-00000000d001", "0195a0c4-6c1e-7d2a-9b7e-00000000d002", "0195a0c4-6c1e-7d2a-9b7e-00000000d003"
	for _, id := range []string{stale, stray, authorized} {
		w.Place(t, id, "tok_visa")
	}
	// An authorize step that reached the gateway and died before its commit leaves a hold.
	_, err := w.GW.Authorize(context.Background(), domainpayment.AuthorizeRequest{
		IdempotencyKey: domainpayment.IdempotencyKey(stray, domainpayment.OpAuthorize), OrderID: stray, Amount: 1500, Currency: "EUR", Token: "tok_visa",
	})
	testenv.Must(t, err)
	testenv.Must(t, w.Saga.Authorize(context.Background(), events.Unsolicited("test"), authorized))
	time.Sleep(20 * time.Millisecond)
	sw := newSweeper(t, w.Saga, w.Store, jobs.SweepConfig{ReservationTTL: time.Millisecond, StuckAfter: time.Millisecond})
	if _, err := sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{stale: "expired", stray: "expired", authorized: "confirmed"} {
		if s := w.State(t, id); s.Status != want {
			t.Errorf("order %s: %s, want %s", id, s.Status, want)
		}
	}
	if s := w.State(t, stray); s.Reserved != 0 || s.OnHand != 7 || s.Ops["void"] != 1 {
		t.Errorf("after the sweep: %+v; want on_hand 7, reserved 0 and the stray order's hold voided", s)
	}
}

// TestSweepThatKeepsFailing: an order whose sweep fails every time (the gateway refuses to say
// whether a hold exists) is parked in needs_attention after a few sweeps instead of blocking
// the sweeper for good.
func TestSweepThatKeepsFailing(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	const id = "0195a0c4-6c1e-7d2a-9b7e-00000000d101"
	w.Place(t, id, "tok_visa")
	broken := w.Over(t, w.Store, testenv.RefusingGateway{Gateway: w.GW, Err: errors.New("gateway: account closed")})
	sw := newSweeper(t, broken, w.Store, jobs.SweepConfig{ReservationTTL: time.Nanosecond})
	for i := 1; i <= 5; i++ {
		if _, err := sw.Sweep(context.Background()); err == nil {
			t.Fatalf("sweep %d succeeded with a broken gateway", i)
		}
	}
	if s := w.State(t, id); s.Status != "needs_attention" || s.Reason != "sweep_failed" {
		t.Errorf("after 5 failed sweeps: %+v, want needs_attention sweep_failed", s)
	}
}

// TestAGatewayOutageNeverParks: a gateway that fails transiently on every call is an outage:
// the sweeper keeps trying, never parks the order, and settles it once the gateway is back.
func TestAGatewayOutageNeverParks(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	const reserved, authorized = "0195a0c4-6c1e-7d2a-9b7e-00000000d201", "0195a0c4-6c1e-7d2a-9b7e-00000000d202"
	w.Place(t, reserved, "tok_visa")
	w.Place(t, authorized, "tok_visa")
	testenv.Must(t, w.Saga.Authorize(context.Background(), events.Unsolicited("test"), authorized))
	down := w.Over(t, w.Store, w.Gateway(t, simulated.Config{FailureRate: 1}))
	cfg := jobs.SweepConfig{ReservationTTL: time.Nanosecond, StuckAfter: time.Nanosecond}
	sw := newSweeper(t, down, w.Store, cfg)
	for i := 1; i <= 8; i++ {
		if _, err := sw.Sweep(context.Background()); !errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("sweep %d with the gateway down: %v; want an outage", i, err)
		}
	}
	for id, want := range map[string]string{reserved: "reserved", authorized: "authorized"} {
		if s := w.State(t, id); s.Status != want {
			t.Errorf("after 8 sweeps with the gateway down, order %s is %s; want %s still", id, s.Status, want)
		}
	}
	if _, err := newSweeper(t, w.Saga, w.Store, cfg).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{reserved: "expired", authorized: "confirmed"} {
		if s := w.State(t, id); s.Status != want {
			t.Errorf("once the gateway is back, order %s is %s; want %s", id, s.Status, want)
		}
	}
}

// TestSweepersAgreeOnTheDatabasesClock: an order taken in by a process whose clock runs an
// hour behind is not expired early by a sweeper whose clock is right: the stamps and the
// cutoff are both the database's.
func TestSweepersAgreeOnTheDatabasesClock(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	w.Clock = func() time.Time { return time.Now().Add(-time.Hour) }
	const id = "0195a0c4-6c1e-7d2a-9b7e-00000000d301"
	w.Place(t, id, "tok_visa")
	sw := newSweeper(t, w.Saga, w.Store, jobs.SweepConfig{ReservationTTL: 15 * time.Minute, StuckAfter: 15 * time.Minute})
	if _, err := sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.State(t, id); s.Status != "reserved" {
		t.Errorf("a reservation a second old is %s after a sweep with a 15-minute TTL; want reserved", s.Status)
	}
}

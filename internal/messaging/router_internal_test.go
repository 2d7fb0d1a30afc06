package messaging

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/domain/fault"
)

func TestFinalAttemptOutsideTheRouter(t *testing.T) {
	for _, c := range []struct {
		attempt, maxDeliver int
		want                bool
	}{
		{1, -1, false},
		{50, -1, false}, // unlimited: only the router gives up
		{3, 3, true},    // JetStream's last delivery
		{2, 3, false},
	} {
		ctx := withDelivery(context.Background(), c.attempt, c.maxDeliver)
		if got := FinalAttempt(ctx); got != c.want {
			t.Errorf("FinalAttempt(attempt %d, maxDeliver %d) = %v, want %v", c.attempt, c.maxDeliver, got, c.want)
		}
	}
	if FinalAttempt(context.Background()) {
		t.Error("FinalAttempt true for a context without a delivery")
	}
}

// giveUpAfter never turns an outage permanent and does not count it: after
// 100 outage deliveries a plain failure is still the first of three. The
// dead-letter stage refuses an outage a handler marked permanent.
func TestOutageIsNeverGivenUpOn(t *testing.T) {
	outage := fmt.Errorf("query: %w", fault.ErrUnavailable)
	plain := errors.New("boom")
	var next error
	var sawFinal []bool
	h := giveUpAfter(3)(func(m *message.Message) ([]*message.Message, error) {
		sawFinal = append(sawFinal, FinalAttempt(m.Context()))
		return nil, next
	})
	deliver := func(err error, attempt int) error {
		next = err
		msg := message.NewMessage("m", nil)
		msg.SetContext(withDelivery(context.Background(), attempt, -1))
		_, got := h(msg)
		return got
	}
	for attempt := 1; attempt <= 100; attempt++ {
		if got := deliver(outage, attempt); fault.IsPermanent(got) || !errors.Is(got, fault.ErrUnavailable) {
			t.Fatalf("outage on attempt %d became %v", attempt, got)
		}
	}
	if got := deliver(plain, 101); fault.IsPermanent(got) {
		t.Errorf("first plain failure after an outage became permanent: %v", got)
	}
	if got := deliver(plain, 102); fault.IsPermanent(got) {
		t.Errorf("second plain failure became permanent: %v", got)
	}
	if got := deliver(plain, 103); !fault.IsPermanent(got) || !errors.Is(got, plain) {
		t.Errorf("third plain failure = %v, want permanent wrapping it", got)
	}
	if n := len(sawFinal); n < 3 || sawFinal[n-1] != true || sawFinal[n-2] != false || sawFinal[0] != false {
		t.Errorf("FinalAttempt seen by the handler: %v; want true only on the third failure", sawFinal[max(0, n-3):])
	}
	if deadLetterable(fault.Permanent(fmt.Errorf("flag order: %w", outage))) {
		t.Error("a permanent error wrapping an outage is dead-lettered")
	}
	if !deadLetterable(fault.Permanent(plain)) || deadLetterable(plain) {
		t.Error("deadLetterable disagrees with fault.IsPermanent on plain errors")
	}
}

func TestSubscriberDefaults(t *testing.T) {
	cfg := SubscriberConfig{}.withDefaults()
	if cfg.MaxDeliver != -1 || cfg.CloseTimeout != 30*time.Second {
		t.Errorf("defaults: MaxDeliver %d CloseTimeout %s, want -1 and 30s", cfg.MaxDeliver, cfg.CloseTimeout)
	}
	cfg.Resolve = func(string) (string, string, error) { return "", "", nil }
	if err := cfg.validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	cfg.MaxDeliver = 5
	if err := cfg.validate(); err != nil {
		t.Errorf("MaxDeliver 5 refused: %v", err)
	}
}

// Issue 11, finding 6: the router applies its middlewares to each handler, and one event
// reaches every handler subscribed to it. The give-up count is each handler's own: another
// handler's failures do not add to it, and another handler's success does not reset it.
func TestGiveUpCountsEachHandlerApart(t *testing.T) {
	plain := errors.New("boom")
	mw := giveUpAfter(3) // once per router, as NewRouter does
	handler := func(err error) message.HandlerFunc {
		return mw(func(*message.Message) ([]*message.Message, error) { return nil, err })
	}
	deliver := func(h message.HandlerFunc) error {
		msg := message.NewMessage("event-1", nil)
		msg.SetContext(withDelivery(context.Background(), 1, -1))
		_, err := h(msg)
		return err
	}

	payment, reporting := handler(plain), handler(plain)
	for i, h := range []message.HandlerFunc{payment, reporting, payment, reporting} {
		if err := deliver(h); fault.IsPermanent(err) {
			t.Fatalf("failure %d (the second of its handler at most) gave up: %v", i+1, err)
		}
	}
	if err := deliver(payment); !fault.IsPermanent(err) {
		t.Errorf("payment's third failure = %v, want permanent", err)
	}

	payment, reporting = handler(plain), handler(nil)
	for i, h := range []message.HandlerFunc{payment, reporting, payment} {
		if err := deliver(h); fault.IsPermanent(err) {
			t.Fatalf("call %d gave up: %v", i+1, err)
		}
	}
	if err := deliver(payment); !fault.IsPermanent(err) {
		t.Errorf("payment's third failure after reporting's success = %v, want permanent", err)
	}
}

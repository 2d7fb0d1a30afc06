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

func TestFinalAttempt(t *testing.T) {
	for _, c := range []struct {
		attempt, maxDeliver, giveUpAfter int
		want                             bool
	}{
		{1, -1, 10, false},
		{9, -1, 10, false},
		{10, -1, 10, true},
		{11, -1, 10, true},
		{50, -1, 0, false}, // no give-up, no limit
		{3, 3, 10, true},   // JetStream's last delivery comes first
		{2, 3, 10, false},
	} {
		ctx := withDelivery(context.Background(), c.attempt, c.maxDeliver)
		if got := FinalAttempt(ctx, c.giveUpAfter); got != c.want {
			t.Errorf("FinalAttempt(attempt %d, maxDeliver %d, giveUpAfter %d) = %v, want %v",
				c.attempt, c.maxDeliver, c.giveUpAfter, got, c.want)
		}
	}
	if FinalAttempt(context.Background(), 1) {
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
		sawFinal = append(sawFinal, FinalAttempt(m.Context(), 3))
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

package messaging

import (
	"testing"
	"time"
)

func TestNakDelayIndexesByAttemptAndRepeatsLast(t *testing.T) {
	cfg := SubscriberConfig{NakDelays: []time.Duration{time.Second, 2 * time.Second}}.withDefaults()
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 9: 2 * time.Second} {
		if got := cfg.nakDelay(attempt); got != want {
			t.Errorf("nakDelay(%d) = %s, want %s", attempt, got, want)
		}
	}
	if got := (SubscriberConfig{NakDelays: []time.Duration{0}}).withDefaults().nakDelay(3); got != 0 {
		t.Errorf("explicit zero delay = %s, want 0", got)
	}
	if got := (SubscriberConfig{}).withDefaults().nakDelay(1); got != DefaultNakDelays()[0] {
		t.Errorf("default first delay = %s", got)
	}
}

func TestWithDefaultsCopiesNakDelays(t *testing.T) {
	delays := []time.Duration{time.Second}
	cfg := SubscriberConfig{NakDelays: delays}.withDefaults()
	delays[0] = time.Hour
	if cfg.NakDelays[0] != time.Second {
		t.Fatal("config shares the caller's NakDelays slice")
	}
}

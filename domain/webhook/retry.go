package webhook

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// DefaultSchedule is the wait before each retry of a failed delivery; past the last one the
// delivery is failed. About 27 hours in all, so a receiver's day-long outage is survived.
func DefaultSchedule() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

// ParseSchedule reads WEBHOOK_RETRY_SCHEDULE: comma-separated durations ("1s,2s,4s").
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("WEBHOOK_RETRY_SCHEDULE %q: want comma-separated durations ≥ 0", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// NextAttempt decides what follows a failed attempt, the attempts-th of a delivery: the wait
// before the next (with up to ±20 % jitter, so that an endpoint back from an outage is not hit
// by every delivery at once), or retry false when the schedule is exhausted.
func NextAttempt(schedule []time.Duration, attempts int, jitter *rand.Rand) (wait time.Duration, retry bool) {
	if attempts < 1 || attempts > len(schedule) {
		return 0, false
	}
	base := schedule[attempts-1]
	if jitter == nil || base <= 0 {
		return base, true
	}
	spread := int64(base) / 5
	return base + time.Duration(jitter.Int64N(2*spread+1)-spread), true
}

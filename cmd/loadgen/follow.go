package main

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/shopflow/orders/domain/order"
)

// follow reads every accepted order until it settles (or cfg.settleWait passes) and records
// the time from its 202 to its last status change, from the order's own history.
func (r *runner) follow(ctx context.Context, res *result, start time.Time) {
	deadline := time.Now().Add(r.cfg.settleWait)
	ids := make(chan string)
	var mu sync.Mutex
	var settle []time.Duration
	var lastSettled time.Time
	res.ByStatus = map[string]int{}
	var wg sync.WaitGroup
	for range min(r.cfg.concurrency, 32) {
		wg.Go(func() {
			for id := range ids {
				st, took, at := r.await(ctx, id, deadline)
				mu.Lock()
				res.ByStatus[st]++
				if order.Status(st).Settled() {
					settle = append(settle, took)
					if at.After(lastSettled) {
						lastSettled = at
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, a := range r.accepted {
		ids <- a.id
	}
	close(ids)
	wg.Wait()
	res.Settled = len(settle)
	res.Settle = percentiles(settle)
	if res.Settled > 0 {
		res.SettledPerSecond = float64(res.Settled) / lastSettled.Sub(start).Seconds()
	}
	if res.PlaceSeconds > 0 {
		res.AcceptedPerSecond = float64(res.Accepted) / res.PlaceSeconds
	}
}

// await polls one order until it settles; it returns its status, the time from its 202 to
// its last change, and when that was.
func (r *runner) await(ctx context.Context, id string, deadline time.Time) (string, time.Duration, time.Time) {
	status := "unreadable"
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := r.do(ctx, http.MethodGet, "/v1/orders/"+id, r.cfg.key, nil, nil)
		if err == nil && resp.status == http.StatusOK {
			var o struct {
				Status     string
				AcceptedAt time.Time `json:"accepted_at"`
				History    []struct{ At time.Time }
			}
			if json.Unmarshal(resp.body, &o) == nil && len(o.History) > 0 {
				status = o.Status
				if order.Status(o.Status).Settled() {
					last := o.History[len(o.History)-1].At
					return status, last.Sub(o.AcceptedAt), last
				}
			}
		} else if err == nil && resp.status == http.StatusNotFound {
			status = "not_yet_taken_in"
		}
		time.Sleep(100 * time.Millisecond)
	}
	return status, 0, time.Time{}
}

// newPicker returns a SKU index picker: Zipf-skewed popularity (a few SKUs sell most), or
// uniform when skew is 0.
func newPicker(rng *rand.Rand, n int, skew float64) func() int {
	if skew == 0 || n == 1 {
		return func() int { return rng.IntN(n) }
	}
	weights := make([]float64, n)
	total := 0.0
	for i := range weights {
		total += 1 / math.Pow(float64(i+1), skew)
		weights[i] = total
	}
	return func() int {
		x := rng.Float64() * total
		i, _ := slices.BinarySearch(weights, x)
		return min(i, n-1)
	}
}

// latencies summarises a sample.
type latencies struct {
	P50, P90, P99, Max float64 // milliseconds
	N                  int
}

func percentiles(d []time.Duration) latencies {
	if len(d) == 0 {
		return latencies{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := min(len(d)-1, int(math.Ceil(q*float64(len(d))))-1)
		return float64(d[max(i, 0)].Microseconds()) / 1000
	}
	return latencies{P50: at(.5), P90: at(.9), P99: at(.99), Max: float64(d[len(d)-1].Microseconds()) / 1000, N: len(d)}
}

package httpapi

import (
	"errors"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter gives each API key a token bucket: rate requests per second on average, bursts
// of up to burst. It is per process: a fleet of n API processes behind a balancer admits up to
// n times the rate.
type RateLimiter struct {
	rate    rate.Limit
	burst   int
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	calls   int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleBucket is how long an unused bucket is kept (a full bucket is the same as a new one).
const idleBucket = 10 * time.Minute

// NewRateLimiter returns a limiter; perSecond 0 turns limiting off.
func NewRateLimiter(perSecond float64, burst int, now func() time.Time) (*RateLimiter, error) {
	if perSecond < 0 || burst < 0 || (perSecond > 0 && burst == 0) || now == nil {
		return nil, errors.New("httpapi: NewRateLimiter needs a rate ≥ 0, a burst ≥ 1 when limiting, and a clock")
	}
	return &RateLimiter{rate: rate.Limit(perSecond), burst: burst, now: now, buckets: map[string]*bucket{}}, nil
}

// Allow takes a token for key, or reports how long until one is available.
func (l *RateLimiter) Allow(key string) (bool, time.Duration) {
	if l.rate == 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops idle buckets now and then, so the map holds only keys in recent use.
func (l *RateLimiter) sweep(now time.Time) {
	l.calls++
	if l.calls%1024 != 0 {
		return
	}
	for k, b := range l.buckets {
		if now.Sub(b.seen) > idleBucket {
			delete(l.buckets, k)
		}
	}
}

// retryAfter renders a wait as whole seconds, at least one, for the Retry-After header.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

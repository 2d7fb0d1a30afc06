package main

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// apiPool is the API instances a load balancer would send to; a rolling restart swaps them.
type apiPool struct {
	mu      sync.Mutex
	clients []*client
}

func newAPIPool(apis []*instance) *apiPool {
	p := &apiPool{}
	for _, a := range apis {
		p.add(a)
	}
	return p
}

func (p *apiPool) add(a *instance) {
	c := newClient(a.api)
	c.http.Timeout = 10 * time.Second
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients = append(p.clients, c)
}

// remove takes an instance out of rotation, as a failing readiness probe does, before it stops.
func (p *apiPool) remove(a *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients = slices.DeleteFunc(p.clients, func(c *client) bool { return c.base == "http://"+a.api })
}

func (p *apiPool) pick(i int) *client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clients[i%len(p.clients)]
}

// retryingLoad is storefront clients posting orders; each order keeps its Idempotency-Key
// across retries, alternating between the API instances, until a 202.
type retryingLoad struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	res      loadResult
}

type loadResult struct {
	ids           []string
	accepted      []time.Time
	retries       int
	retryStatuses map[int]int // 0: no answer (connection error, timeout)
	noAnswers     []string    // the first few errors of those, with when and which API
	errs          []error
}

func startRetryingLoad(pool *apiPool, skus, clients int) *retryingLoad {
	l := &retryingLoad{res: loadResult{retryStatuses: map[int]int{}}}
	var next atomic.Int64
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stopping.Load() {
				i := int(next.Add(1))
				l.place(pool, fmt.Sprintf("cluster-%d", i), orderBody(fmt.Sprintf("c-%d", i),
					line{SKU: fmt.Sprintf("SKU-%d", i%skus), Quantity: 1 + i%2, UnitPrice: 500}), i)
			}
		}()
	}
	return l
}

// place retries one order until it is accepted, or fails it after a minute.
func (l *retryingLoad) place(pool *apiPool, key string, body map[string]any, i int) {
	deadline := time.Now().Add(time.Minute)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		id, res, err := pool.pick(i+attempt).placeOrder(key, body)
		l.mu.Lock()
		switch {
		case id != "":
			l.res.ids = append(l.res.ids, id)
			l.res.accepted = append(l.res.accepted, time.Now())
			l.mu.Unlock()
			return
		case err == nil && res.status < 500 && res.status != http.StatusConflict && res.status != http.StatusTooManyRequests:
			l.res.errs = append(l.res.errs, fmt.Errorf("order %s: %d %s: not retryable", key, res.status, res.body))
			l.mu.Unlock()
			return
		}
		l.res.retries++
		l.res.retryStatuses[res.status]++
		l.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	l.mu.Lock()
	l.res.errs = append(l.res.errs, fmt.Errorf("order %s: not accepted within a minute of retries", key))
	l.mu.Unlock()
}

// stop lets every order in flight finish its retries, then returns what the load saw.
func (l *retryingLoad) stop() loadResult {
	l.stopping.Store(true)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

// longestGapBetween is the longest interval without a 202 that begins between from and to
// (the last 202 before from counts as its start), and when it began.
func (r loadResult) longestGapBetween(from, to time.Time) (time.Duration, time.Time) {
	times := slices.Clone(r.accepted)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	var at time.Time
	for i := 1; i < len(times); i++ {
		if times[i].Before(from) || times[i-1].After(to) {
			continue
		}
		if d := times[i].Sub(times[i-1]); d > longest {
			longest, at = d, times[i-1]
		}
	}
	return longest, at
}

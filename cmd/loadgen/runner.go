package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// accepted is one order the API answered 202 for.
type accepted struct {
	id      string
	latency time.Duration // of the attempt that was answered 202
}

type runner struct {
	cfg      config
	http     *http.Client
	progress io.Writer // nil when stderr is not a terminal
	mu       sync.Mutex
	errs     map[string]int
	accepted []accepted
	retries  atomic.Int64
	sent     atomic.Int64
}

func newRunner(cfg config, stderr io.Writer) *runner {
	r := &runner{cfg: cfg, errs: map[string]int{},
		http: &http.Client{Timeout: cfg.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.concurrency * 2}}}
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			r.progress = stderr
		}
	}
	return r
}

func (r *runner) run(ctx context.Context) (*result, error) {
	if err := r.stockUp(ctx); err != nil {
		return nil, err
	}
	res := &result{Config: r.cfg.summary()}
	start := time.Now()
	r.place(ctx)
	res.PlaceSeconds = time.Since(start).Seconds()
	res.Sent, res.Retries = r.sent.Load(), r.retries.Load()
	res.Accepted = len(r.accepted)
	res.Errors = r.errs
	lat := make([]time.Duration, len(r.accepted))
	for i, a := range r.accepted {
		lat[i] = a.latency
	}
	res.Ingest = percentiles(lat)
	r.follow(ctx, res, start)
	return res, nil
}

// stockUp sets every SKU's on_hand, so the run starts from a known stock.
func (r *runner) stockUp(ctx context.Context) error {
	if r.cfg.stock == 0 {
		return nil
	}
	for i := range r.cfg.skus {
		body := fmt.Sprintf(`{"on_hand":%d}`, r.cfg.stock)
		res, err := r.do(ctx, http.MethodPut, "/v1/inventory/"+sku(i), r.cfg.adminKey, nil, []byte(body))
		if err != nil || res.status != http.StatusOK {
			return fmt.Errorf("stock %s: %v %d %s", sku(i), err, res.status, res.body)
		}
	}
	return nil
}

func sku(i int) string { return fmt.Sprintf("LG-%04d", i) }

// place sends orders from cfg.concurrency workers, paced by cfg.rate when it is set.
func (r *runner) place(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.cfg.duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.cfg.duration)
		defer cancel()
	}
	next := make(chan int)
	go r.feed(ctx, next)
	var wg sync.WaitGroup
	for w := range r.cfg.concurrency {
		rng := rand.New(rand.NewPCG(r.cfg.seed, uint64(w)))
		zipf := newPicker(rng, r.cfg.skus, r.cfg.skew)
		wg.Go(func() {
			for n := range next {
				r.placeOne(ctx, n, rng, zipf)
			}
		})
	}
	stopProgress := r.showProgress()
	wg.Wait()
	stopProgress()
}

func (r *runner) feed(ctx context.Context, next chan<- int) {
	defer close(next)
	var tick <-chan time.Time
	if r.cfg.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / r.cfg.rate))
		defer t.Stop()
		tick = t.C
	}
	for n := 0; r.cfg.orders == 0 || n < r.cfg.orders; n++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
		}
		select {
		case next <- n:
		case <-ctx.Done():
			return
		}
	}
}

func (r *runner) placeOne(ctx context.Context, n int, rng *rand.Rand, pick func() int) {
	token := "tok_visa"
	if rng.Float64() < r.cfg.declineRatio {
		token = "tok_chargeDeclined"
	}
	body, _ := json.Marshal(map[string]any{
		"customer_id": fmt.Sprintf("%s-c%d", r.cfg.prefix, n), "currency": "EUR",
		"lines":   []map[string]any{{"sku": sku(pick()), "quantity": 1 + rng.IntN(3), "unit_price": 100 + rng.IntN(9900)}},
		"payment": map[string]string{"token": token},
	})
	key := fmt.Sprintf("%s-%d", r.cfg.prefix, n)
	// Latency counts from the first attempt, retries and back-off included: what a storefront
	// waits for its 202.
	start := time.Now()
	for attempt := 0; ; attempt++ {
		r.sent.Add(1)
		res, err := r.do(context.WithoutCancel(ctx), http.MethodPost, "/v1/orders", r.cfg.key, map[string]string{"Idempotency-Key": key}, body)
		latency := time.Since(start)
		kind := errorKind(res, err)
		if kind == "" {
			var a struct{ ID string }
			_ = json.Unmarshal(res.body, &a)
			r.mu.Lock()
			r.accepted = append(r.accepted, accepted{id: a.ID, latency: latency})
			r.mu.Unlock()
			return
		}
		r.count(kind)
		if !retryable(kind) || attempt >= 5 {
			return
		}
		r.retries.Add(1)
		time.Sleep(backoff(attempt, res))
	}
}

func (r *runner) count(kind string) {
	r.mu.Lock()
	r.errs[kind]++
	r.mu.Unlock()
}

// errorKind names what went wrong, or "" for a 202.
func errorKind(res response, err error) string {
	var ne net.Error
	switch {
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case err != nil:
		return "connection"
	case res.status == http.StatusAccepted:
		return ""
	default:
		return "http_" + strconv.Itoa(res.status)
	}
}

// retryable: the same Idempotency-Key makes a retry safe; 4xx other than 429 will not change.
func retryable(kind string) bool {
	return kind == "timeout" || kind == "connection" || kind == "http_503" || kind == "http_429" || kind == "http_502" || kind == "http_504"
}

func backoff(attempt int, res response) time.Duration {
	if s, err := strconv.Atoi(res.header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return time.Duration(100<<attempt) * time.Millisecond
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *runner) do(ctx context.Context, method, path, key string, headers map[string]string, body []byte) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.cfg.url+path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := r.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}, err
}

func (r *runner) showProgress() func() {
	if r.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				fmt.Fprintln(r.progress)
				return
			case <-t.C:
				r.mu.Lock()
				n, e := len(r.accepted), 0
				for _, v := range r.errs {
					e += v
				}
				r.mu.Unlock()
				fmt.Fprintf(r.progress, "\r%s accepted %d (%.0f/s), errors %d   ", bar(n, r.cfg.orders), n, float64(n)/time.Since(start).Seconds(), e)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func bar(n, total int) string {
	if total <= 0 {
		return ""
	}
	const width = 30
	filled := min(width, n*width/total)
	return "[" + string(bytes.Repeat([]byte("#"), filled)) + string(bytes.Repeat([]byte("."), width-filled)) + "]"
}

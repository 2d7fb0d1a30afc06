// Package webhooks is the notifier's dispatcher: it sends the webhook deliveries recorded in
// PostgreSQL (handlers/notifier), signs each attempt, and retries on the back-off schedule.
package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/shopflow/orders/domain/webhook"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/telemetry"
)

// Store is what the dispatcher needs of PostgreSQL (postgres.Store).
type Store interface {
	ClaimWebhookDeliveries(ctx context.Context, limit, perEndpoint int, inFlight map[string]int, lease time.Duration) ([]webhook.Due, error)
	FinishWebhookAttempt(ctx context.Context, id string, a webhook.Attempt, status webhook.Status, retryIn time.Duration) error
	WebhookBacklog(ctx context.Context) (oldest time.Duration, disabled int, err error)
}

// Config tunes the dispatcher; zero values take the defaults.
type Config struct {
	Schedule    []time.Duration // waits between attempts (webhook.DefaultSchedule)
	Policy      webhook.Policy  // checked again on every address dialled
	Interval    time.Duration   // how often due deliveries are looked for (1 s)
	Concurrency int             // attempts in flight in all (32)
	PerEndpoint int             // attempts in flight to one endpoint (4)
	Timeout     time.Duration   // one attempt, connect to last byte (10 s)
	Tracer      trace.Tracer    // each attempt a client span of the order's trace (nil: none)
}

func (c Config) withDefaults() Config {
	if c.Tracer == nil {
		c.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if c.Schedule == nil {
		c.Schedule = webhook.DefaultSchedule()
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	return c
}

// maxResponseBytes is how much of a receiver's answer is read: it is never used, only
// drained so that the connection can be reused, and a huge one must not cost us.
const maxResponseBytes = 64 << 10

// backlogEvery is how often the backlog gauges are refreshed.
const backlogEvery = 10 * time.Second

// Dispatcher sends due deliveries. Each endpoint has its own share of the concurrency, so
// one slow or dead endpoint only ever delays itself.
type Dispatcher struct {
	store  Store
	cfg    Config
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	m      *metrics

	mu       sync.Mutex
	busy     map[string]int // attempts in flight per endpoint
	inFlight int
	jitter   *rand.Rand
	wg       sync.WaitGroup
	wake     chan struct{} // an attempt ended: its endpoint may take another
}

// New returns a dispatcher and registers its metrics on reg.
func New(store Store, cfg Config, log *slog.Logger, reg prometheus.Registerer, now func() time.Time) (*Dispatcher, error) {
	if store == nil || log == nil || reg == nil || now == nil {
		return nil, errors.New("webhooks: New needs a store, a logger, a registerer and a clock")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Dispatcher{store: store, cfg: cfg, client: NewClient(cfg.Policy, cfg.Timeout), log: log, now: now, m: m,
		busy: map[string]int{}, wake: make(chan struct{}, 1), jitter: rand.New(rand.NewPCG(uint64(now().UnixNano()), 0))}, nil
}

// NewClient returns the HTTP client deliveries go out with: no proxy (it would dial on our
// behalf, past the address check), no redirects (a receiver cannot point us elsewhere), and
// every address it connects to checked against the policy after resolution, which also
// defeats a name that resolves to a private address only after registration.
func NewClient(p webhook.Policy, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webhook dial %s: %w", address, err)
		}
		return webhook.CheckAddr(ap.Addr(), p)
	}}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: dialer.DialContext, ForceAttemptHTTP2: true,
			TLSHandshakeTimeout: timeout, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run sends due deliveries until ctx ends, then waits for the attempts in flight (each is
// bounded by the timeout); one cut short by a crash is sent again once its claim lapses.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.wg.Wait()
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	var lastBacklog time.Time
	for {
		full := d.round(ctx)
		if time.Since(lastBacklog) >= backlogEvery {
			d.refreshBacklog(ctx)
			lastBacklog = time.Now()
		}
		if full {
			continue // more may be due: look again at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-d.wake:
		}
	}
}

// lease is how long a claimed delivery is left alone: past the attempt's timeout, with room.
func (d *Dispatcher) lease() time.Duration { return 3*d.cfg.Timeout + 5*time.Second }

// round claims what is due and starts sending it; it reports whether it claimed all it
// asked for.
func (d *Dispatcher) round(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	free, busy := d.capacity()
	if free == 0 {
		return false
	}
	due, err := d.store.ClaimWebhookDeliveries(ctx, free, d.cfg.PerEndpoint, busy, d.lease())
	if err != nil {
		if ctx.Err() == nil {
			d.log.WarnContext(ctx, "claim webhook deliveries", "err", err)
		}
		return false
	}
	for _, due := range due {
		d.start(due)
	}
	return len(due) == free
}

// capacity returns how many attempts may start, and how many are in flight per endpoint.
func (d *Dispatcher) capacity() (int, map[string]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	busy := make(map[string]int, len(d.busy))
	for id, n := range d.busy {
		busy[id] = n
	}
	return d.cfg.Concurrency - d.inFlight, busy
}

func (d *Dispatcher) start(due webhook.Due) {
	d.mu.Lock()
	d.busy[due.EndpointID]++
	d.inFlight++
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer d.done(due.EndpointID)
		// Not the loop's context: an attempt under way finishes (its timeout bounds it) and is
		// recorded, rather than be sent twice after a restart.
		d.deliver(context.Background(), due)
	}()
}

func (d *Dispatcher) done(endpointID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busy[endpointID]--; d.busy[endpointID] <= 0 {
		delete(d.busy, endpointID)
	}
	d.inFlight--
	select {
	case d.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// deliver makes one attempt and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, due webhook.Due) {
	a := d.attempt(ctx, due)
	status, wait := webhook.StatusDelivered, time.Duration(0)
	if !webhook.Succeeded(a.HTTPStatus) {
		var retry bool
		d.mu.Lock()
		wait, retry = webhook.NextAttempt(d.cfg.Schedule, due.Tries+1, d.jitter)
		d.mu.Unlock()
		status = webhook.StatusPending
		if !retry {
			status = webhook.StatusFailed
		}
	}
	outcome := string(status)
	if status == webhook.StatusPending {
		outcome = "retry"
	}
	d.m.outcomes.WithLabelValues(outcome).Inc()
	d.m.latency.Observe(a.Duration.Seconds())
	if err := d.store.FinishWebhookAttempt(ctx, due.ID, a, status, wait); err != nil {
		// The claim lapses and the delivery goes again: at least once.
		d.log.WarnContext(ctx, "record webhook attempt", "delivery_id", due.ID, "err", err)
	}
	if status != webhook.StatusDelivered {
		d.log.InfoContext(ctx, "webhook attempt failed", "delivery_id", due.ID, "endpoint_id", due.EndpointID,
			"http_status", a.HTTPStatus, "error", a.Error, "next", outcome, "retry_in", wait)
	}
}

// attempt POSTs the delivery once, signed with the endpoint's active secrets at this moment.
func (d *Dispatcher) attempt(ctx context.Context, due webhook.Due) (a webhook.Attempt) {
	ctx, span := d.cfg.Tracer.Start(telemetry.ContextWith(ctx, events.Trace(due.Trace)), "webhook POST",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("webhook.id", due.ID), attribute.String("webhook.endpoint.id", due.EndpointID),
			attribute.Int("webhook.attempt", due.Attempts+1)))
	defer func() {
		if a.HTTPStatus != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", a.HTTPStatus))
		}
		if !webhook.Succeeded(a.HTTPStatus) {
			span.SetStatus(codes.Error, a.Error)
		}
		span.End()
	}()
	at := d.now()
	a = webhook.Attempt{At: at}
	h, err := webhook.SignedHeaders(due.Secrets.Active(at), due.ID, at, due.Payload)
	if err != nil {
		a.Error = "signing: " + err.Error()
		return a
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, due.URL, bytes.NewReader(due.Payload))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req.Header = h
	req.Header.Set("User-Agent", "orders-webhooks/1")
	start := time.Now()
	resp, err := d.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		_ = resp.Body.Close()
		a.HTTPStatus = resp.StatusCode
	} else {
		a.Error = err.Error()
	}
	a.Duration = time.Since(start)
	return a
}

func (d *Dispatcher) refreshBacklog(ctx context.Context) {
	oldest, disabled, err := d.store.WebhookBacklog(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.WarnContext(ctx, "read webhook backlog", "err", err)
		}
		return
	}
	d.m.oldest.Set(oldest.Seconds())
	d.m.disabled.Set(float64(disabled))
}

package webhooks_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/webhook"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/handlers/notifier"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/testenv"
	"github.com/shopflow/orders/internal/webhooks"
)

// dev is the policy of the tests: receivers are httptest servers on 127.0.0.1 over http.
var dev = webhook.Policy{AllowInsecure: true, AllowPrivate: true}

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is a real HTTP server that records what it receives and answers with answer(n),
// n counting requests from 1.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int) int
	notify chan struct{}
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{answer: answer, notify: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: body})
		n := len(r.got)
		r.mu.Unlock()
		w.WriteHeader(r.answer(n))
		r.notify <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func always(status int) func(int) int { return func(int) int { return status } }

// wait returns once the receiver has had n requests, or fails the test.
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		got := append([]received(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", len(got), n)
		}
	}
}

// world is the saga over its own database, the notifier's handler and a dispatcher.
type world struct {
	*testenv.SagaWorld
	handler *notifier.Handler
}

func newWorld(t *testing.T) *world {
	w := &world{SagaWorld: testenv.NewSagaWorld(t, simulated.Config{})}
	var err error
	w.handler, err = notifier.NewHandler(w.Store, httpapi.OrderDocument, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// endpoint registers url for storefront "s" (the world's orders) and returns its id and secret.
func (w *world) endpoint(t *testing.T, url string, eventTypes ...string) (string, string) {
	t.Helper()
	secret, err := webhook.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	e := webhook.Endpoint{ID: id, Storefront: "s", URL: url, Events: eventTypes, CreatedAt: time.Now()}
	if err := w.Store.CreateWebhookEndpoint(context.Background(), e, secret); err != nil {
		t.Fatal(err)
	}
	return id, secret
}

// dispatch runs a dispatcher with schedule until the test ends.
func (w *world) dispatch(t *testing.T, cfg webhooks.Config) {
	t.Helper()
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	d, err := webhooks.New(w.Store, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// confirm takes an order through reserved, authorized and confirmed, and hands the notifier
// each event, in the order given by names.
func (w *world) confirm(t *testing.T, names ...string) string {
	t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	w.Place(t, id, "tok_visa")
	testenv.Must(t, w.Saga.Authorize(ctx, events.Unsolicited("test"), id))
	testenv.Must(t, w.Saga.Capture(ctx, events.Unsolicited("test"), id))
	if names == nil {
		names = []string{events.NameStockReserved, events.NamePaymentAuthorized, events.NameOrderConfirmed}
	}
	for _, name := range names {
		testenv.Must(t, w.handler.Event(w.Event(t, id, name)))
	}
	return id
}

type delivered struct {
	Type string `json:"type"`
	Data struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Version int    `json:"version"`
		History []struct {
			Version int `json:"version"`
		} `json:"history"`
	} `json:"data"`
}

func decode(t *testing.T, r received) delivered {
	t.Helper()
	var d delivered
	if err := json.Unmarshal(r.Body, &d); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	return d
}

// Every status after pending reaches the endpoint once, in version order, signed with its
// secret, carrying the order as it stood at that version; a message handled before the
// earlier ones of its order still announces them all, in order.
func TestDeliveriesAreSignedAndInVersionOrder(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, always(http.StatusNoContent))
	endpointID, secret := w.endpoint(t, r.srv.URL+"/hooks")
	w.dispatch(t, webhooks.Config{Policy: dev})
	id := w.confirm(t, events.NameOrderConfirmed, events.NameStockReserved, events.NamePaymentAuthorized)

	got := r.wait(t, 3)
	want := []string{"order.reserved", "order.authorized", "order.confirmed"}
	for i, g := range got {
		if err := webhook.Verify(secret, g.Header, g.Body, time.Now(), time.Minute); err != nil {
			t.Errorf("delivery %d does not verify: %v", i, err)
		}
		d := decode(t, g)
		if d.Type != want[i] || d.Data.ID != id || d.Data.Version != i+2 || len(d.Data.History) != i+2 ||
			"order."+d.Data.Status != d.Type {
			t.Errorf("delivery %d = %s, want %s of version %d", i, g.Body, want[i], i+2)
		}
	}
	// Handling the other two messages recorded nothing more: each status went once.
	waitFor(t, func() bool {
		page, _, err := w.Store.ListWebhookDeliveries(context.Background(), postgresFilter(endpointID))
		return err == nil && len(page) == 3 && page[0].Status == webhook.StatusDelivered && len(page[0].Attempts) == 1
	})
	// The log pages: newest first, the cursor continues where the page ended.
	ctx := context.Background()
	first, next, err := w.Store.ListWebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: endpointID, Limit: 2})
	if err != nil || len(first) != 2 || next == "" || first[0].Version != 4 || first[1].Version != 3 {
		t.Fatalf("first page = %+v, next %q, %v", first, next, err)
	}
	after, err := strconv.ParseInt(next, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	rest, next, err := w.Store.ListWebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: endpointID, Limit: 2, After: after})
	if err != nil || len(rest) != 1 || next != "" || rest[0].Version != 2 {
		t.Errorf("second page = %+v, next %q, %v", rest, next, err)
	}
}

// A receiver that answers 500 three times gets the delivery on the fourth attempt, with the
// same webhook-id; the endpoint's other events wait for it (version order).
func TestFailedAttemptsAreRetriedWithTheSameID(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	endpointID, _ := w.endpoint(t, r.srv.URL)
	w.dispatch(t, webhooks.Config{Policy: dev, Schedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}})
	w.confirm(t)

	got := r.wait(t, 6)
	for i := 0; i < 4; i++ {
		if g := got[i].Header.Get(webhook.HeaderID); g != got[0].Header.Get(webhook.HeaderID) || decode(t, got[i]).Type != "order.reserved" {
			t.Errorf("attempt %d: webhook-id %s type %s, want the first delivery again", i+1, g, decode(t, got[i]).Type)
		}
	}
	if decode(t, got[4]).Type != "order.authorized" || decode(t, got[5]).Type != "order.confirmed" {
		t.Errorf("after the retries came %s then %s", decode(t, got[4]).Type, decode(t, got[5]).Type)
	}
	page, _, err := w.Store.ListWebhookDeliveries(context.Background(), postgresFilter(endpointID))
	if err != nil {
		t.Fatal(err)
	}
	last := page[len(page)-1] // newest first: the reserved one is last
	if last.Status != webhook.StatusDelivered || len(last.Attempts) != 4 || last.Attempts[0].HTTPStatus != 500 || last.Attempts[3].HTTPStatus != 200 {
		t.Errorf("log of the first delivery = %+v", last)
	}
}

// Past the schedule a delivery is failed, and the next of its order goes.
func TestExhaustedDeliveryFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, always(http.StatusServiceUnavailable))
	endpointID, _ := w.endpoint(t, r.srv.URL, "order.reserved", "order.confirmed")
	w.dispatch(t, webhooks.Config{Policy: dev, Schedule: []time.Duration{time.Millisecond}})
	w.confirm(t)
	got := r.wait(t, 4) // two attempts of each of the two events it hears
	if decode(t, got[1]).Type != "order.reserved" || decode(t, got[2]).Type != "order.confirmed" {
		t.Errorf("attempts went %s, %s, %s", decode(t, got[0]).Type, decode(t, got[1]).Type, decode(t, got[2]).Type)
	}
	waitFor(t, func() bool {
		page, _, err := w.Store.ListWebhookDeliveries(context.Background(), postgresFilter(endpointID))
		return err == nil && len(page) == 2 && page[0].Status == webhook.StatusFailed && page[1].Status == webhook.StatusFailed
	})
}

// Without the development setting, a receiver on a private address is never connected to,
// whatever the registration let through (DNS may change after it).
func TestPrivateAddressesAreRefusedAtConnect(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, always(http.StatusOK))
	endpointID, _ := w.endpoint(t, r.srv.URL)
	w.dispatch(t, webhooks.Config{Policy: webhook.Policy{AllowInsecure: true}, Schedule: []time.Duration{}})
	w.confirm(t, events.NameStockReserved)
	waitFor(t, func() bool {
		page, _, err := w.Store.ListWebhookDeliveries(context.Background(), postgresFilter(endpointID))
		if err != nil || len(page) != 3 { // the order's three statuses
			return false
		}
		for _, d := range page {
			if d.Status != webhook.StatusFailed || len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "private") {
				return false
			}
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.got); n != 0 {
		t.Errorf("the private receiver got %d requests", n)
	}
}

// After a rotation, deliveries carry a signature by each secret.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, always(http.StatusOK))
	endpointID, old := w.endpoint(t, r.srv.URL)
	next, err := webhook.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	testenv.Must(t, w.Store.RotateWebhookSecret(context.Background(), endpointID, next, time.Now()))
	w.dispatch(t, webhooks.Config{Policy: dev})
	w.confirm(t, events.NameStockReserved)
	g := r.wait(t, 1)[0]
	for _, s := range []string{old, next} {
		if err := webhook.Verify(s, g.Header, g.Body, time.Now(), time.Minute); err != nil {
			t.Errorf("%v (signatures %q)", err, g.Header.Get(webhook.HeaderSignature))
		}
	}
	if n := len(strings.Fields(g.Header.Get(webhook.HeaderSignature))); n != 2 {
		t.Errorf("%d signatures, want 2", n)
	}
}

// An endpoint that hangs holds only its own deliveries: another gets all of its own while
// the first is still waiting for its answer (the hung attempt is released only after).
func TestSlowEndpointDelaysNoOther(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// First, so that its cleanup (which waits for attempts in flight) runs after the release.
	w.dispatch(t, webhooks.Config{Policy: dev, Timeout: time.Minute, Concurrency: 4, PerEndpoint: 1})
	release, hung := make(chan struct{}), make(chan struct{}, 100)
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		hung <- struct{}{}
		<-release
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	fast := newReceiver(t, always(http.StatusOK))
	w.endpoint(t, slow.URL)
	w.endpoint(t, fast.srv.URL)
	for i := 0; i < 3; i++ {
		w.confirm(t)
	}
	<-hung
	fast.wait(t, 9)
	if n := len(hung); n != 0 {
		t.Errorf("the slow endpoint got %d more requests while one hung, want none (one in flight per endpoint)", n)
	}
}

func postgresFilter(endpointID string) postgresDeliveryFilter {
	return postgresDeliveryFilter{EndpointID: endpointID, Limit: 50}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An endpoint failing for webhook.DisableAfter is disabled: nothing more goes to it until it is
// enabled, and then what waited goes at once.
func TestEndpointFailingForDaysIsDisabledUntilEnabled(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	endpointID, _ := w.endpoint(t, r.srv.URL)
	ctx := context.Background()
	// Its failures began four days ago.
	if _, err := w.Pool.Exec(ctx, `UPDATE webhook_endpoints SET failing_since = now() - interval '4 days' WHERE id = $1`, endpointID); err != nil {
		t.Fatal(err)
	}
	w.dispatch(t, webhooks.Config{Policy: dev, Schedule: []time.Duration{time.Millisecond}})
	w.confirm(t, events.NameStockReserved)
	r.wait(t, 1)
	waitFor(t, func() bool {
		e, err := w.Store.GetWebhookEndpoint(ctx, endpointID)
		return err == nil && e.DisabledAt != nil
	})
	page, _, err := w.Store.ListWebhookDeliveries(ctx, postgresFilter(endpointID))
	if err != nil || len(page) != 3 || page[2].Status != webhook.StatusPending {
		t.Fatalf("deliveries of the disabled endpoint = %+v, %v", page, err)
	}
	r.mu.Lock()
	if n := len(r.got); n != 1 {
		t.Errorf("the disabled endpoint got %d requests, want only the one that disabled it", n)
	}
	r.mu.Unlock()
	testenv.Must(t, w.Store.EnableWebhookEndpoint(ctx, endpointID))
	got := r.wait(t, 4)
	if decode(t, got[1]).Type != "order.reserved" || decode(t, got[3]).Type != "order.confirmed" {
		var seen []string
		for _, g := range got {
			seen = append(seen, decode(t, g).Type+" "+g.Header.Get("webhook-id"))
		}
		t.Errorf("after enabling came %s … %s; all: %q", decode(t, got[1]).Type, decode(t, got[3]).Type, seen)
	}
}

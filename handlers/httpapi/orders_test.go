package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

type accepted struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// checkAccepted asserts a 202 with its Location and returns the body.
func checkAccepted(t testing.TB, code int, header http.Header, body []byte) accepted {
	t.Helper()
	if code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", code, body)
	}
	var got accepted
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if _, err := uuid.Parse(got.ID); err != nil || got.Status != "pending" || got.AcceptedAt.IsZero() {
		t.Errorf("body = %s, want an id, status pending and accepted_at", body)
	}
	if loc := header.Get("Location"); loc != "/v1/orders/"+got.ID {
		t.Errorf("Location = %q, want /v1/orders/%s", loc, got.ID)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	return got
}

func TestPostOrderStoresCommand(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	rec := a.do(t, http.MethodPost, "/v1/orders", validOrder,
		"Content-Type", "application/json; charset=utf-8", "Idempotency-Key", "order-1", "X-Correlation-Id", "corr-77")
	got := checkAccepted(t, rec.Code, rec.Header(), rec.Body.Bytes())

	if n := a.commands(t); n != 1 {
		t.Fatalf("commands stream holds %d messages, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := a.js.Stream(ctx, events.StreamCommands)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, events.SubjectPlaceOrder)
	if err != nil {
		t.Fatalf("last %s: %v", events.SubjectPlaceOrder, err)
	}
	wantID := events.MessageID(got.ID, events.NamePlaceOrder, 0)
	if msg.Subject != "cmd.order.place" || msg.Header.Get(jetstream.MsgIDHeader) != wantID {
		t.Errorf("stored %s with Nats-Msg-Id %q, want cmd.order.place with %q", msg.Subject, msg.Header.Get(jetstream.MsgIDHeader), wantID)
	}
	meta := map[string]string{}
	for k := range msg.Header {
		meta[k] = msg.Header.Get(k)
	}
	env, err := events.ParseEnvelope(msg.Header.Get(jetstream.MsgIDHeader), meta, msg.Data)
	if err != nil {
		t.Fatalf("stored command: %v", err)
	}
	if env.CorrelationID != "corr-77" || !env.OccurredAt.Equal(got.AcceptedAt) {
		t.Errorf("envelope = %+v, want correlation corr-77 at %s", env, got.AcceptedAt)
	}
	p, err := events.DecodePlaceOrder(env)
	if err != nil {
		t.Fatalf("stored command: %v", err)
	}
	want := order.PlaceParams{
		ID: got.ID, Storefront: "default", CustomerID: "c-42", Currency: "EUR", PaymentToken: "tok_visa",
		Lines:      []order.Line{{SKU: "SKU-1", Quantity: 2, UnitPrice: 1999}, {SKU: "SKU-2", Quantity: 1, UnitPrice: 500}},
		AcceptedAt: got.AcceptedAt,
	}
	if p.AcceptedAt.Equal(want.AcceptedAt) {
		p.AcceptedAt = want.AcceptedAt
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("command:\n got %+v\nwant %+v", p, want)
	}
}

// intakes are the two ways the ingest stores orders: atomic batches (nats-server 2.15+) and
// the idempotency bucket with a publish per order (older servers).
var intakes = []struct {
	name string
	app  func(t testing.TB) *app
}{
	{"atomic batches", newApp},
	{"bucket", func(t testing.TB) *app {
		store, js := newStore(t), testenv.Connect(t, testenv.JetStream(t))
		d := deps(t, store, js)
		d.Intake = kvIntake(t, js)
		return newAppWith(t, store, js, d)
	}},
}

func TestPostOrderIdempotency(t *testing.T) {
	t.Parallel()
	for _, in := range intakes {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			testPostOrderIdempotency(t, in.app(t))
		})
	}
}

func testPostOrderIdempotency(t *testing.T, a *app) {
	first := a.postOrder(t, "key-1", validOrder)
	firstBody := first.Body.String()
	got := checkAccepted(t, first.Code, first.Header(), first.Body.Bytes())

	t.Run("same key and body", func(t *testing.T) {
		again := a.postOrder(t, "key-1", validOrder)
		if again.Code != http.StatusAccepted || again.Body.String() != firstBody {
			t.Errorf("replay = %d %s, want 202 %s", again.Code, again.Body, firstBody)
		}
		if loc := again.Header().Get("Location"); loc != "/v1/orders/"+got.ID {
			t.Errorf("Location = %q", loc)
		}
	})
	t.Run("same key, same order written differently", func(t *testing.T) {
		reordered := `{"payment":{"token":"tok_visa"},"currency":"EUR","lines":[{"unit_price":1999,"quantity":2,"sku":"SKU-1"},
			{"sku":"SKU-2","unit_price":500,"quantity":1}],   "customer_id":"c-42"}`
		again := a.postOrder(t, "key-1", reordered)
		if again.Code != http.StatusAccepted || again.Body.String() != firstBody {
			t.Errorf("replay = %d %s, want 202 %s", again.Code, again.Body, firstBody)
		}
	})
	t.Run("same key, changed body", func(t *testing.T) {
		changed := orderBody(t, func(m map[string]any) { line(m, 0)["quantity"] = 3 })
		checkProblem(t, a.postOrder(t, "key-1", changed), http.StatusUnprocessableEntity, "Idempotency-Key")
	})
	if n := a.commands(t); n != 1 {
		t.Errorf("commands stream holds %d messages after replays, want 1", n)
	}
	t.Run("other key, same body", func(t *testing.T) {
		other := a.postOrder(t, "key-2", validOrder)
		if o := checkAccepted(t, other.Code, other.Header(), other.Body.Bytes()); o.ID == got.ID {
			t.Errorf("another key got the same order %s", o.ID)
		}
		if n := a.commands(t); n != 2 {
			t.Errorf("commands stream holds %d messages, want 2", n)
		}
	})
}

func TestPostOrderConcurrentReplays(t *testing.T) {
	t.Parallel()
	for _, in := range intakes {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			testPostOrderConcurrentReplays(t, in.app(t))
		})
	}
}

func testPostOrderConcurrentReplays(t *testing.T, a *app) {
	const n = 50
	var wg sync.WaitGroup
	codes := make([]int, n)
	bodies := make([]string, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			rec := a.postOrder(t, "same-key", validOrder)
			codes[i], bodies[i] = rec.Code, rec.Body.String()
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if codes[i] != http.StatusAccepted || bodies[i] != bodies[0] {
			t.Errorf("request %d: %d %s, want 202 %s", i, codes[i], bodies[i], bodies[0])
		}
	}
	if got := a.commands(t); got != 1 {
		t.Errorf("commands stream holds %d messages, want exactly 1", got)
	}
}

// TestPostOrderJetStreamDown: a 202 is a promise, so when JetStream cannot take the command
// the client is told to retry.
func TestPostOrderJetStreamDown(t *testing.T) {
	t.Parallel()
	a, stopJetStream := newAppWithStoppableJetStream(t)
	stopJetStream()

	start := time.Now()
	rec := a.postOrder(t, "down-1", validOrder)
	t.Logf("answered %d after %s", rec.Code, time.Since(start))
	checkProblem(t, rec, http.StatusServiceUnavailable, "")
	if rec.Header().Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
}

// Requests that arrive together share atomic batches; a batch holding a replay of a key (here
// each key comes twice, concurrently, so batches hold both a first request and a replay) is
// split until every first request is stored and every replay finds its key's order.
func TestPostOrderBatchWithReplaysStoresEveryOrderOnce(t *testing.T) {
	t.Parallel()
	for _, in := range intakes {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			a := in.app(t)
			const keys, tries = 40, 3
			var wg sync.WaitGroup
			ids := make([][tries]string, keys)
			start := make(chan struct{})
			for k := range keys {
				for i := range tries {
					wg.Go(func() {
						<-start
						rec := a.postOrder(t, fmt.Sprintf("mixed-%d", k), validOrder)
						if rec.Code != http.StatusAccepted {
							t.Errorf("key %d try %d: %d %s", k, i, rec.Code, rec.Body)
							return
						}
						ids[k][i] = checkAccepted(t, rec.Code, rec.Header(), rec.Body.Bytes()).ID
					})
				}
			}
			close(start)
			wg.Wait()
			seen := map[string]bool{}
			for k := range keys {
				for i := range tries {
					if ids[k][i] != ids[k][0] {
						t.Errorf("key %d: tries got orders %v, want one", k, ids[k])
					}
				}
				if seen[ids[k][0]] {
					t.Errorf("key %d: order %s was given to another key too", k, ids[k][0])
				}
				seen[ids[k][0]] = true
			}
			if got := a.commands(t); got != keys {
				t.Errorf("commands stream holds %d commands, want %d", got, keys)
			}
			for id := range seen { // each reads as pending: its copy was stored with it
				if rec := a.do(t, http.MethodGet, "/v1/orders/"+id, ""); rec.Code != http.StatusOK {
					t.Errorf("GET order %s: %d %s", id, rec.Code, rec.Body)
				}
			}
		})
	}
}

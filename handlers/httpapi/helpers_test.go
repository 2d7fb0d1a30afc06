package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/webhook"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/natsserver"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

// app is the API over real PostgreSQL and JetStream, as `orders api` wires it.
type app struct {
	api     *httpapi.API
	handler http.Handler
	store   *postgres.Store
	js      jetstream.JetStream
	reg     *prometheus.Registry
}

// newApp gives the test a database and a JetStream server of its own.
func newApp(t testing.TB) *app {
	t.Helper()
	return newAppOn(t, newStore(t), testenv.Connect(t, testenv.JetStream(t)))
}

func newStore(t testing.TB) *postgres.Store {
	t.Helper()
	store, err := postgres.NewStore(testenv.Pool(t), postgres.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// deps are the API's dependencies over store and js as `orders api` wires them, without a rate
// limit; tests change what they need before httpapi.New.
func deps(t testing.TB, store *postgres.Store, js jetstream.JetStream) httpapi.Deps {
	t.Helper()
	kv, pub := busOf(t, js)
	intake, batched, err := broker.NewIntake(context.Background(), js, kv, pub, broker.BatchIntakeConfig{})
	if err != nil || !batched {
		t.Fatalf("intake: batched %v, %v (the embedded server has atomic batches)", batched, err)
	}
	auth, err := httpapi.NewAuthenticator(store, 0, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := httpapi.NewRateLimiter(0, 0, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return httpapi.Deps{Orders: store, Stock: store, Intake: intake, Publisher: pub, Auth: auth, Limiter: limiter,
		Log: slog.New(slog.DiscardHandler), Now: time.Now,
		Webhooks: httpapi.WebhookDeps{Store: store, Policy: webhook.Policy{AllowInsecure: true, AllowPrivate: true}}}
}

// busOf is what the ingest over js is built from: the idempotency bucket and a publisher.
func busOf(t testing.TB, js jetstream.JetStream) (jetstream.KeyValue, *broker.EnvelopePublisher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, events.BucketIdempotency)
	if err != nil {
		t.Fatalf("idempotency bucket: %v", err)
	}
	pub, err := broker.NewEnvelopePublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	return kv, pub
}

// kvIntake is the ingest an older nats-server gets (no atomic batches).
func kvIntake(t testing.TB, js jetstream.JetStream) httpapi.Intake {
	t.Helper()
	kv, pub := busOf(t, js)
	keys, err := broker.NewIdempotencyKeys(kv)
	if err != nil {
		t.Fatal(err)
	}
	in, err := broker.NewKVIntake(keys, pub)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// newAppOn builds the API over store and js, whose topology must exist.
func newAppOn(t testing.TB, store *postgres.Store, js jetstream.JetStream) *app {
	t.Helper()
	return newAppWith(t, store, js, deps(t, store, js))
}

// newAppWith builds the API over d, whose store and js are store and js.
func newAppWith(t testing.TB, store *postgres.Store, js jetstream.JetStream, d httpapi.Deps) *app {
	t.Helper()
	createKey(t, store, storefrontKey, access.RoleStorefront, "default")
	createKey(t, store, adminKey, access.RoleAdmin, "")
	api, err := httpapi.New(d)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	reg := prometheus.NewRegistry()
	metrics, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return &app{api: api, handler: metrics.Wrap(mux), store: store, js: js, reg: reg}
}

// Keys every test app holds: the "default" storefront's and an admin's.
const (
	storefrontKey = "ordk_test_storefront_default_000000000000000000"
	adminKey      = "ordk_test_admin_0000000000000000000000000000000"
)

func createKey(t testing.TB, store *postgres.Store, plaintext string, role access.Role, storefront string) {
	t.Helper()
	k, err := access.FromPlaintext(plaintext, role, storefront)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
}

// do serves one request; headers are name, value pairs. Without an Authorization header it
// acts as the route's usual caller: the admin for /v1/inventory, the storefront otherwise.
func (a *app) do(t testing.TB, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, newRequest(method, path, body, headers...))
	return rec
}

// newRequest builds the request a.do serves for the same arguments.
func newRequest(method, path, body string, headers ...string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+storefrontKey)
	if strings.HasPrefix(path, "/v1/inventory") {
		req.Header.Set("Authorization", "Bearer "+adminKey)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// newAppWithStoppableJetStream is newApp over a JetStream server of the test's own, and the
// function that stops that server (for the 503 paths).
func newAppWithStoppableJetStream(t testing.TB) (*app, func()) {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	js := testenv.Connect(t, srv.ClientURL())
	if err := broker.EnsureTopology(context.Background(), js, broker.TopologyConfig{}); err != nil {
		t.Fatal(err)
	}
	return newAppOn(t, newStore(t), js), srv.Shutdown
}

// postOrder posts body as JSON with an Idempotency-Key.
func (a *app) postOrder(t testing.TB, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	return a.do(t, http.MethodPost, "/v1/orders", body, "Content-Type", "application/json", "Idempotency-Key", key)
}

// commands counts the commands (place and cancel) in the commands stream, not the keys' claims
// and the pending copies stored beside them.
func (a *app) commands(t testing.TB) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := a.js.Stream(ctx, events.StreamCommands)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("cmd.order.>"))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

const validOrder = `{"customer_id":"c-42","currency":"EUR",
	"lines":[{"sku":"SKU-1","quantity":2,"unit_price":1999},{"sku":"SKU-2","quantity":1,"unit_price":500}],
	"payment":{"token":"tok_visa"}}`

// orderBody returns validOrder decoded, changed by mutate, and encoded again.
func orderBody(t testing.TB, mutate func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(validOrder), &m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// line returns the i-th line of an order body being mutated.
func line(m map[string]any, i int) map[string]any {
	return m["lines"].([]any)[i].(map[string]any)
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

func (p problem) fields() []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Field
	}
	return out
}

// checkProblem asserts rec is an RFC 9457 problem with status and, when field is not empty,
// an errors[] entry naming field.
func checkProblem(t testing.TB, rec *httptest.ResponseRecorder, status int, field string) problem {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if p.Status != status || p.Title == "" || p.Type == "" {
		t.Errorf("problem = %+v, want status %d with type and title", p, status)
	}
	if field != "" && !slices.Contains(p.fields(), field) {
		t.Errorf("problem fields = %q, want %q among them; body %s", p.fields(), field, rec.Body)
	}
	return p
}

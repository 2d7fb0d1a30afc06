package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// jaegerVersion is the Jaeger v2 that scripts/jaeger.sh builds (its binary is tagged v1.x).
const jaegerVersion = "v1.76.0"

// jaeger is a Jaeger v2 of the test's own: OTLP/HTTP in, the query API out, spans in memory.
type jaeger struct{ otlp, query string }

// jaegerBinary finds the binary scripts/jaeger.sh installs, or JAEGER_BIN. A missing one
// fails the test with what to run: the trace tests have nothing to check without it.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("JAEGER_BIN"); bin != "" {
		return bin
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env GOPATH: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "jaeger-"+jaegerVersion)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Jaeger %s is not installed (%v): run scripts/jaeger.sh (or make tools), or set JAEGER_BIN", jaegerVersion, err)
	}
	return bin
}

// startJaeger runs Jaeger on free loopback ports until the test ends, and waits for its query
// API to answer.
func startJaeger(t *testing.T) jaeger {
	t.Helper()
	j := jaeger{otlp: freeAddr(t), query: freeAddr(t)}
	config := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: mem
    enable_tracing: false
    http:
      endpoint: %s
    grpc:
      endpoint: %s
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`, j.query, freeAddr(t), j.otlp)
	path := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(jaegerBinary(t), "--config", "file:"+path)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jaeger: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // a test's Jaeger keeps nothing worth a clean stop
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + j.query + "/api/services"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return j
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("jaeger did not answer within 60s:\n%s", out.String())
	return j
}

// jaegerSpan is a span as Jaeger's query API (/api/traces/{id}) returns it.
type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`
}

func (s jaegerSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// parent is the span's parent as Jaeger reads it: its first reference within the trace, ""
// for a root.
func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.TraceID == s.TraceID {
			return r.SpanID
		}
	}
	return ""
}

// linked reports whether s is linked to spanID. Jaeger keeps one reference per span: an OTel
// link to the parent turns the parent's CHILD_OF reference into FOLLOWS_FROM (its model says
// "the child does not depend on the parent's outcome"), still the parent.
func (s jaegerSpan) linked(spanID string) bool {
	for _, r := range s.References {
		if r.SpanID == spanID && r.RefType == "FOLLOWS_FROM" {
			return true
		}
	}
	return false
}

type jaegerTrace struct {
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
		Tags        []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"processes"`
}

// fetchTrace reads trace id from Jaeger until done accepts it or within passes.
func (j jaeger) fetchTrace(t *testing.T, id string, within time.Duration, done func(jaegerTrace) bool) jaegerTrace {
	t.Helper()
	var last jaegerTrace
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + j.query + "/api/traces/" + id)
		if err == nil {
			var body struct{ Data []jaegerTrace }
			err = json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if err == nil && len(body.Data) == 1 {
				last = body.Data[0]
				if done(last) {
					return last
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	names := make([]string, len(last.Spans))
	for i, s := range last.Spans {
		names[i] = s.OperationName
	}
	t.Fatalf("trace %s incomplete after %s; its spans: %v", id, within, names)
	return last
}

// spansNamed returns the spans of tr named name whose tag key is value (any when key is "").
func spansNamed(tr jaegerTrace, name, key, value string) []jaegerSpan {
	var out []jaegerSpan
	for _, s := range tr.Spans {
		if s.OperationName == name && (key == "" || s.tag(key) == value) {
			out = append(out, s)
		}
	}
	return out
}

const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
)

// postTracedOrder posts an order as a caller in trace callerTraceID and waits until it is
// confirmed.
func postTracedOrder(t *testing.T, api string, db *pgxpool.Pool) string {
	t.Helper()
	c := newClient(api)
	c.setStock(t, "SKU-TRACE", 5)
	res, err := c.do(http.MethodPost, "/v1/orders", map[string]string{"Idempotency-Key": "trace-1",
		"traceparent": "00-" + callerTraceID + "-" + callerSpanID + "-01"},
		orderBody("c-trace", line{SKU: "SKU-TRACE", Quantity: 1, UnitPrice: 100}))
	if err != nil || res.status != http.StatusAccepted {
		t.Fatalf("order: %v %d %s", err, res.status, res.body)
	}
	var acc struct{ ID string }
	if err := json.Unmarshal(res.body, &acc); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, db, acc.ID, "confirmed", 60*time.Second)
	return acc.ID
}

func waitStatus(t *testing.T, db *pgxpool.Pool, id, want string, within time.Duration) {
	t.Helper()
	var status string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		err := db.QueryRow(context.Background(), `SELECT status FROM orders WHERE id = $1`, id).Scan(&status)
		if err == nil && status == want {
			return
		}
	}
	t.Fatalf("order %s is %q after %s, want %s", id, status, within, want)
}

// checkAdminTraceID reads the order as an admin (its trace id shown) and as its storefront
// (not shown).
func checkAdminTraceID(t *testing.T, api, id string) {
	t.Helper()
	for _, k := range []struct {
		key  string
		want string
	}{{keyAdmin, callerTraceID}, {keyShopA, ""}} {
		res, err := newClientWithKey(api, k.key).do(http.MethodGet, "/v1/orders/"+id, nil, nil)
		if err != nil || res.status != http.StatusOK {
			t.Fatalf("GET order: %v %d %s", err, res.status, res.body)
		}
		var o struct {
			TraceID *string `json:"trace_id"`
		}
		if err := json.Unmarshal(res.body, &o); err != nil {
			t.Fatal(err)
		}
		got := ""
		if o.TraceID != nil {
			got = *o.TraceID
		}
		if got != k.want {
			t.Errorf("GET /v1/orders/%s as %s…: trace_id %q, want %q", id, k.key[:10], got, k.want)
		}
	}
}

// checkOneTrace asserts the order's journey is one trace, parented hop by hop: request →
// command publish → intake → relay publish → payment step (→ gateway call) → relay publish →
// capture, and the projector under the relay's publishes; PostgreSQL statements are spans of it.
func checkOneTrace(t *testing.T, tr jaegerTrace) {
	t.Helper()
	one := func(name, key, value string) jaegerSpan {
		t.Helper()
		s := spansNamed(tr, name, key, value)
		if len(s) != 1 {
			names := make([]string, len(tr.Spans))
			for i, sp := range tr.Spans {
				names[i] = sp.OperationName
			}
			t.Fatalf("%d spans %q (%s=%s), want 1; the trace's spans: %q", len(s), name, key, value, names)
		}
		return s[0]
	}
	childOf := func(child, parent jaegerSpan) {
		t.Helper()
		if child.parent() != parent.SpanID {
			t.Errorf("%q (%s) has parent %s, want %q (%s); its references: %+v", child.OperationName, child.tag("messaging.consumer.group.name"),
				child.parent(), parent.OperationName, parent.SpanID, child.References)
		}
	}
	consumed := func(consumer, subject string, producer jaegerSpan) jaegerSpan {
		t.Helper()
		s := one("process "+subject, "messaging.consumer.group.name", consumer)
		childOf(s, producer)
		if !s.linked(producer.SpanID) {
			t.Errorf("%q (%s) is not linked to its producer %s: %+v", s.OperationName, consumer, producer.SpanID, s.References)
		}
		if s.tag("messaging.system") != "nats" || s.tag("span.kind") != "consumer" || s.tag("messaging.message.id") == "" {
			t.Errorf("%q (%s) tags: %+v", s.OperationName, consumer, s.Tags)
		}
		return s
	}
	request := one("POST /v1/orders", "", "")
	if request.parent() != callerSpanID || request.tag("span.kind") != "server" || request.tag("http.route") != "/v1/orders" {
		t.Errorf("request span: parent %s (want the caller's %s), tags %+v", request.parent(), callerSpanID, request.Tags)
	}
	command := one("send "+events.SubjectPlaceOrder, "", "")
	childOf(command, request)
	intake := consumed(events.ConsumerInventoryPlaceOrder, events.SubjectPlaceOrder, command)
	if intake.tag("order.status") != "reserved" || intake.tag("storefront") != "shop-a" {
		t.Errorf("intake span tags: %+v", intake.Tags)
	}
	reserved := one("send "+events.EventSubject(events.NameStockReserved), "", "")
	childOf(reserved, intake)
	placed := one("send "+events.EventSubject(events.NameOrderPlaced), "", "")
	childOf(placed, intake)
	// The authorize step captures too (saga.WithCaptureOnAuthorize): both gateway calls and
	// both events are its children, and the capture step only reads the order.
	authorize := consumed(events.ConsumerPaymentStockReserved, events.EventSubject(events.NameStockReserved), reserved)
	if authorize.tag("order.status") != "confirmed" {
		t.Errorf("authorize span tags: %+v", authorize.Tags)
	}
	for _, call := range []string{"payment.authorize", "payment.capture"} {
		gw := one(call, "", "")
		childOf(gw, authorize)
		if gw.tag("payment.outcome") != "ok" {
			t.Errorf("%s span tags: %+v", call, gw.Tags)
		}
	}
	authorized := one("send "+events.EventSubject(events.NamePaymentAuthorized), "", "")
	childOf(authorized, authorize)
	capture := consumed(events.ConsumerPaymentAuthorized, events.EventSubject(events.NamePaymentAuthorized), authorized)
	if capture.tag("order.status") != "" {
		t.Errorf("capture span tags: %+v; want no change recorded", capture.Tags)
	}
	confirmed := one("send "+events.EventSubject(events.NameOrderConfirmed), "", "")
	childOf(confirmed, authorize)
	for _, p := range []jaegerSpan{placed, reserved, authorized, confirmed} {
		consumed(events.ConsumerReportingProjections, strings.TrimPrefix(p.OperationName, "send "), p)
	}
	var statements int
	for _, s := range tr.Spans {
		if s.tag("db.system") == "postgresql" || s.tag("db.system.name") == "postgresql" {
			statements++
		}
	}
	if statements == 0 {
		t.Error("no PostgreSQL statement in the trace")
	}
	for _, s := range tr.Spans {
		for _, tag := range s.Tags {
			if v := fmt.Sprint(tag.Value); strings.Contains(v, "tok_visa") || strings.Contains(v, "ordk_") {
				t.Errorf("span %q holds a secret in %s", s.OperationName, tag.Key)
			}
		}
	}
}

// checkPaymentLogLine finds the payment step's log line (JSON) and requires the trace id.
func checkPaymentLogLine(t *testing.T, logs, id string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) != nil || e["order_id"] != id || e["msg"] != "order changed" || e["status"] != "confirmed" {
			continue
		}
		if e["trace_id"] != callerTraceID || e["span_id"] == nil {
			t.Errorf("the authorize step's log line has trace_id %v span_id %v, want trace %s: %s", e["trace_id"], e["span_id"], callerTraceID, sc.Text())
		}
		return
	}
	t.Errorf("no log line of the authorize step for %s in:\n%s", id, logs)
}

// TestOneTracePerOrder runs `orders run` exporting to a real Jaeger and follows one order,
// posted with a known traceparent, through every hop of its trace.
func TestOneTracePerOrder(t *testing.T) {
	t.Parallel()
	j := startJaeger(t)
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(),
		"LOG_LEVEL": "info", "LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + j.otlp,
		"WEBHOOK_ALLOW_INSECURE": "true", "WEBHOOK_ALLOW_PRIVATE": "true"})
	delivered := registerReceiver(t, in.api)
	id := postTracedOrder(t, in.api, connectDB(t, dbURL))
	checkAdminTraceID(t, in.api, id)
	checkExemplars(t, in.admin)
	waitFor(t, 30*time.Second, func() bool { return delivered.Load() >= 3 }) // reserved, authorized, confirmed
	in.stop(t)                                                               // flushes the spans still buffered
	checkPaymentLogLine(t, in.logs.String(), id)
	tr := j.fetchTrace(t, callerTraceID, 30*time.Second, func(tr jaegerTrace) bool {
		return len(spansNamed(tr, "send "+events.EventSubject(events.NameOrderConfirmed), "", "")) > 0 &&
			len(spansNamed(tr, "process "+events.EventSubject(events.NameOrderConfirmed), "", "")) > 0 &&
			len(spansNamed(tr, "webhook POST", "", "")) >= 3
	})
	checkOneTrace(t, tr)
	checkWebhookSpans(t, tr)
	for _, p := range tr.Processes {
		if p.ServiceName != "orders" {
			t.Errorf("service.name = %q, want orders", p.ServiceName)
		}
	}
}

// TestOneTracePerOrderAcrossAFleet is the same journey across an `orders api` and an
// `orders worker` process on an external nats-server: one trace, each span from the process
// role that made it.
func TestOneTracePerOrderAcrossAFleet(t *testing.T) {
	t.Parallel()
	j := startJaeger(t)
	dbURL := testenv.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": startNATSServer(t), "LOG_LEVEL": "info",
		"LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + j.otlp}
	api := startInstance(t, "api", env)
	worker := startInstance(t, "worker", env)
	id := postTracedOrder(t, api.api, connectDB(t, dbURL))
	api.stop(t)
	worker.stop(t)
	checkPaymentLogLine(t, worker.logs.String(), id)
	tr := j.fetchTrace(t, callerTraceID, 30*time.Second, func(tr jaegerTrace) bool {
		return len(spansNamed(tr, "process "+events.EventSubject(events.NameOrderConfirmed), "", "")) > 0
	})
	checkOneTrace(t, tr)
	role := func(s jaegerSpan) string {
		for _, tag := range tr.Processes[s.ProcessID].Tags {
			if tag.Key == "orders.role" {
				return fmt.Sprint(tag.Value)
			}
		}
		return ""
	}
	for _, want := range []struct{ span, role string }{
		{"POST /v1/orders", "api"}, {"send " + events.SubjectPlaceOrder, "api"},
		{"process " + events.SubjectPlaceOrder, "worker"}, {"payment.authorize", "worker"},
	} {
		for _, s := range spansNamed(tr, want.span, "", "") {
			if got := role(s); got != want.role {
				t.Errorf("span %q from role %q, want %q", want.span, got, want.role)
			}
		}
	}
}

// TestTraceContextPassesThroughWithoutExporter: with nothing exported, a caller's trace
// context still rides the command and the events, so the order keeps its trace id and the
// payment step's log lines carry it (another process of the fleet may export).
func TestTraceContextPassesThroughWithoutExporter(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(),
		"LOG_LEVEL": "info", "LOG_FORMAT": "json"})
	id := postTracedOrder(t, in.api, connectDB(t, dbURL))
	checkAdminTraceID(t, in.api, id)
	in.stop(t)
	checkPaymentLogLine(t, in.logs.String(), id)
}

// checkExemplars: asked for OpenMetrics, /metrics shows the traced order's trace id as the
// exemplar of the ingest's latency and of its time to a status.
func checkExemplars(t *testing.T, admin string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, metric := range []string{"orders_http_request_duration_seconds_bucket", "orders_order_time_to_status_seconds_bucket"} {
		found := false
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, metric) && strings.Contains(line, `# {trace_id="`+callerTraceID+`"}`) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no %s sample with the exemplar trace_id=%s in the OpenMetrics scrape", metric, callerTraceID)
		}
	}
}

// registerReceiver registers, for the test's storefront, a webhook endpoint served by a
// receiver on loopback that answers 204 and counts what it receives.
func registerReceiver(t *testing.T, api string) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	res, err := newClient(api).do(http.MethodPost, "/v1/webhooks", nil, map[string]any{"url": rcv.URL, "events": []string{}})
	if err != nil || res.status != http.StatusCreated {
		t.Fatalf("register webhook: %v %d %s", err, res.status, res.body)
	}
	return &n
}

// checkWebhookSpans: every webhook attempt is a client span of the order's trace, a child of
// the notifier step that owed it.
func checkWebhookSpans(t *testing.T, tr jaegerTrace) {
	t.Helper()
	byID := map[string]jaegerSpan{}
	for _, s := range tr.Spans {
		byID[s.SpanID] = s
	}
	for _, s := range spansNamed(tr, "webhook POST", "", "") {
		parent := byID[s.parent()]
		if !strings.HasPrefix(parent.OperationName, "process ") || parent.tag("messaging.consumer.group.name") != events.ConsumerNotifierWebhooks {
			t.Errorf("webhook attempt %s has parent %q (%s), want a notifier step", s.SpanID, parent.OperationName, parent.tag("messaging.consumer.group.name"))
		}
		if s.tag("span.kind") != "client" || s.tag("webhook.id") == "" || s.tag("http.response.status_code") != "204" {
			t.Errorf("webhook attempt tags: %+v", s.Tags)
		}
	}
}

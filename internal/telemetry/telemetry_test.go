package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/telemetry"
)

func env(m map[string]string) telemetry.Getenv { return func(k string) string { return m[k] } }

func TestNewWithoutEndpointExportsNothing(t *testing.T) {
	t.Parallel()
	p, err := telemetry.New(context.Background(), "run", env(nil))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if p.Exporting {
		t.Error("Exporting = true without OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	_, span := p.Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() {
		t.Error("a span records while nothing exports")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestNewWithEndpointExports(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"", "http/protobuf", "grpc"} {
		p, err := telemetry.New(context.Background(), "api", env(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": proto,
		}))
		if err != nil {
			t.Fatalf("New(%q): %v", proto, err)
		}
		if !p.Exporting {
			t.Errorf("New(%q): Exporting = false", proto)
		}
		_, span := p.Tracer("t").Start(context.Background(), "x")
		if !span.IsRecording() {
			t.Errorf("New(%q): span not recording (parent-based always-on is the default)", proto)
		}
		span.End()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // nothing listens on port 1: do not wait for the flush
		_ = p.Shutdown(ctx)
	}
	if _, err := telemetry.New(context.Background(), "api", env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
	})); err == nil {
		t.Error("New accepted OTEL_EXPORTER_OTLP_PROTOCOL=http/json, which the Go exporters do not speak")
	}
}

func recorder(t *testing.T) (*tracetest.SpanRecorder, trace.Tracer) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return rec, tp.Tracer("test")
}

const orderID = "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a69"

// A command published from a request's span and consumed by a handler: the handler's span is
// in the request's trace, parented to the publish span and linked to it, through the
// envelope's headers as they travel.
func TestPropagationThroughEnvelopeHeaders(t *testing.T) {
	t.Parallel()
	rec, tracer := recorder(t)
	ctx, root := tracer.Start(context.Background(), "POST /v1/orders")
	e := events.Envelope{ID: "msg-1", Subject: "cmd.order.place", Name: events.NamePlaceOrder, OrderID: orderID}
	e, pub := telemetry.StartPublish(ctx, tracer, e)
	telemetry.EndPublish(pub, nil)
	root.End()

	msg := message.NewMessage(e.ID, nil)
	msg.Metadata = e.Metadata()
	var inHandler trace.SpanContext
	var parsed events.Envelope
	h := telemetry.Consume(tracer, "inventory", e.Subject, func(m *message.Message) error {
		inHandler = trace.SpanContextFromContext(m.Context())
		var err error
		parsed, err = events.ParseEnvelope(m.UUID, m.Metadata, nil)
		return err
	})
	if err := h(msg); err != nil {
		t.Fatalf("handler: %v", err)
	}
	if parsed.Trace.TraceID() != root.SpanContext().TraceID().String() {
		t.Errorf("parsed envelope's trace = %v, want trace %s", parsed.Trace, root.SpanContext().TraceID())
	}
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans ended, want 3 (request, publish, process)", len(spans))
	}
	publish, process := spans[0], spans[2]
	if process.Name() != "process cmd.order.place" || process.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("consumer span = %q %v", process.Name(), process.SpanKind())
	}
	if process.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Errorf("consumer span in trace %s, want the request's %s", process.SpanContext().TraceID(), root.SpanContext().TraceID())
	}
	if process.Parent().SpanID() != publish.SpanContext().SpanID() {
		t.Errorf("consumer span's parent = %s, want the publish span %s", process.Parent().SpanID(), publish.SpanContext().SpanID())
	}
	if l := process.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != publish.SpanContext().SpanID() {
		t.Errorf("consumer span links = %v, want the publish span", l)
	}
	if inHandler.SpanID() != process.SpanContext().SpanID() {
		t.Error("the handler did not run in the consumer span")
	}
	if trace.SpanContextFromContext(msg.Context()).IsValid() {
		t.Error("the message kept the consumer span's context after the handler")
	}
}

func TestParseEnvelopeKeepsTrace(t *testing.T) {
	t.Parallel()
	_, tracer := recorder(t)
	ctx, span := tracer.Start(context.Background(), "step")
	defer span.End()
	e := events.Envelope{ID: "m", Name: events.NameStockReserved, OrderID: orderID, Trace: telemetry.TraceOf(ctx)}
	got, err := events.ParseEnvelope(e.ID, e.Metadata(), []byte(`{}`))
	if err != nil {
		t.Fatalf("ParseEnvelope: %v", err)
	}
	if got.Trace.TraceID() != span.SpanContext().TraceID().String() {
		t.Errorf("parsed trace id = %q, want %s", got.Trace.TraceID(), span.SpanContext().TraceID())
	}
	if sc := trace.SpanContextFromContext(telemetry.ContextWith(context.Background(), got.Trace)); sc.SpanID() != span.SpanContext().SpanID() || !sc.IsRemote() {
		t.Errorf("continued span context = %v, want remote %s", sc, span.SpanContext().SpanID())
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	t.Parallel()
	_, tracer := recorder(t)
	var buf bytes.Buffer
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx, span := tracer.Start(context.Background(), "step")
	log.InfoContext(ctx, "inside")
	span.End()
	log.InfoContext(context.Background(), "outside")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	var in, out map[string]any
	if err := json.Unmarshal(lines[0], &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &out); err != nil {
		t.Fatal(err)
	}
	if in["trace_id"] != span.SpanContext().TraceID().String() || in["span_id"] != span.SpanContext().SpanID().String() {
		t.Errorf("line inside the span = %v", in)
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("line outside any span has a trace id: %v", out)
	}
}

func TestSamplerFromEnvironment(t *testing.T) {
	t.Parallel()
	base := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
	with := func(kv ...string) telemetry.Getenv {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return env(m)
	}
	sampled := func(t *testing.T, g telemetry.Getenv, parent trace.SpanContext) bool {
		t.Helper()
		p, err := telemetry.New(context.Background(), "worker", g)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		defer func() { _ = p.Shutdown(ctx) }()
		pctx := context.Background()
		if parent.IsValid() {
			pctx = trace.ContextWithRemoteSpanContext(pctx, parent)
		}
		_, span := p.Tracer("t").Start(pctx, "x")
		defer span.End()
		return span.SpanContext().IsSampled()
	}
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true})
	if sampled(t, with(), unsampled) {
		t.Error("default sampler sampled the child of an unsampled parent: not parent-based")
	}
	if !sampled(t, with(), trace.SpanContext{}) {
		t.Error("default sampler dropped a root span")
	}
	if sampled(t, with("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG", "0"), trace.SpanContext{}) {
		t.Error("ratio 0 sampled a root span")
	}
	if !sampled(t, with("OTEL_TRACES_SAMPLER", "always_on"), unsampled) {
		t.Error("always_on dropped a span")
	}
	for _, bad := range [][]string{{"OTEL_TRACES_SAMPLER", "sometimes"}, {"OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"}} {
		if _, err := telemetry.New(context.Background(), "worker", with(bad...)); err == nil {
			t.Errorf("New accepted %v", bad)
		}
	}
}

func TestChildrenOnlyStartsNoTrace(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := telemetry.ChildrenOnly(tp).Tracer("pgx")
	_, orphan := tracer.Start(context.Background(), "SELECT")
	orphan.End()
	ctx, parent := tp.Tracer("t").Start(context.Background(), "step")
	_, child := tracer.Start(ctx, "SELECT")
	child.End()
	parent.End()
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "SELECT" || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("ended %d spans (want the child and its parent only): %v", len(spans), spans)
	}
}

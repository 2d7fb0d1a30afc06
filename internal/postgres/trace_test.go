package postgres_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/telemetry"
	"github.com/shopflow/orders/internal/testenv"
)

// The intake runs inside a span: the events it records carry that span's context through the
// outbox to the relay, the order keeps the trace id, and the span learns the order's status.
// A later step without a span of its own passes on the trace its message brought.
func TestOutboxCarriesTraceContext(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	setStock(t, s, map[string]int64{"SKU-T": 5})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	id := "0195a0c4-6c1e-7d2a-9b7e-0000000000a1"
	ctx, span := tp.Tracer("test").Start(context.Background(), "process cmd.order.place")
	if _, _, err := testenv.PlaceAt(ctx, s, consumer, params(id, line("SKU-T", 1)), "corr", clock); err != nil {
		t.Fatalf("place: %v", err)
	}
	span.End()
	want := span.SpanContext()

	var r relayed
	if _, err := s.RelayBatch(context.Background(), 10, r.publish); err != nil {
		t.Fatalf("RelayBatch: %v", err)
	}
	if len(r.envs) != 2 {
		t.Fatalf("relayed %d events, want 2 (placed, reserved)", len(r.envs))
	}
	for _, e := range r.envs {
		sc := trace.SpanContextFromContext(telemetry.ContextWith(context.Background(), e.Trace))
		if sc.TraceID() != want.TraceID() || sc.SpanID() != want.SpanID() {
			t.Errorf("%s continues %s/%s, want the intake's span %s/%s", e.Name, sc.TraceID(), sc.SpanID(), want.TraceID(), want.SpanID())
		}
	}
	tid, err := s.OrderTraceID(context.Background(), id)
	if err != nil || tid != want.TraceID().String() {
		t.Errorf("OrderTraceID = %q, %v; want %s", tid, err, want.TraceID())
	}
	attrs := map[string]string{}
	for _, kv := range rec.Ended()[0].Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["order.id"] != id || attrs["order.status"] != string(order.StatusReserved) || attrs["storefront"] == "" {
		t.Errorf("intake span attributes = %v", attrs)
	}

	// A step in a context without a span: the delivery's trace is what the events carry on.
	d := events.Delivery{Consumer: "payment", MessageID: "m-trace", CorrelationID: "corr", Trace: r.envs[1].Trace}
	if _, err := s.UpdateOrder(context.Background(), d, id, func(o *order.Order) error {
		return o.Cancel("test", clock)
	}); err != nil {
		t.Fatalf("UpdateOrder: %v", err)
	}
	r = relayed{}
	if _, err := s.RelayBatch(context.Background(), 10, r.publish); err != nil || len(r.envs) == 0 {
		t.Fatalf("RelayBatch: %d events, %v", len(r.envs), err)
	}
	if got := r.envs[0].Trace.TraceID(); got != want.TraceID().String() {
		t.Errorf("the step's event carries trace %q, want the delivery's %s", got, want.TraceID())
	}
}

// Without any trace, nothing is stored: no trace id on the order, no trace on the events.
func TestOutboxWithoutTrace(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	setStock(t, s, map[string]int64{"SKU-U": 5})
	id := "0195a0c4-6c1e-7d2a-9b7e-0000000000a2"
	place(t, s, params(id, line("SKU-U", 1)))
	var r relayed
	if _, err := s.RelayBatch(context.Background(), 10, r.publish); err != nil {
		t.Fatalf("RelayBatch: %v", err)
	}
	for _, e := range r.envs {
		if e.Trace != nil {
			t.Errorf("%s carries a trace %v without one", e.Name, e.Trace)
		}
	}
	if tid, err := s.OrderTraceID(context.Background(), id); err != nil || tid != "" {
		t.Errorf("OrderTraceID = %q, %v; want none", tid, err)
	}
}

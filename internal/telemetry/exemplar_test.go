package telemetry_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/orders/internal/telemetry"
)

func TestObserveCarriesTheTraceIDAsExemplar(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Buckets: []float64{1}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	unsampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid}))
	telemetry.Observe(unsampled, h, 0.5)
	telemetry.Observe(context.Background(), h, 0.5)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if ex := mfs[0].GetMetric()[0].GetHistogram().GetBucket()[0].GetExemplar(); ex != nil {
		t.Fatalf("exemplar %v from an unsampled or absent span; want none", ex)
	}
	telemetry.Observe(sampled, h, 0.5)
	mfs, err = reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	ex := mfs[0].GetMetric()[0].GetHistogram().GetBucket()[0].GetExemplar()
	if ex == nil || len(ex.GetLabel()) != 1 || ex.GetLabel()[0].GetName() != "trace_id" || ex.GetLabel()[0].GetValue() != tid.String() {
		t.Fatalf("exemplar %v; want trace_id %s", ex, tid)
	}
}

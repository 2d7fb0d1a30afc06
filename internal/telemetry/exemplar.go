package telemetry

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Observe records v on o, with the trace id of ctx's span as an exemplar when that span is
// sampled (a trace an operator can open): a latency panel's exemplar then leads to the trace.
// Without a sampled span it is a plain observation.
func Observe(ctx context.Context, o prometheus.Observer, v float64) {
	sc := trace.SpanContextFromContext(ctx)
	eo, ok := o.(prometheus.ExemplarObserver)
	if !ok || !sc.IsSampled() {
		o.Observe(v)
		return
	}
	eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
}

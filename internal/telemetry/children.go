package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

// ChildrenOnly returns tp restricted to spans that continue a trace: a span started from a
// context without a span context is not started (the context comes back unchanged, with a
// no-op span). It is for instrumentation below our own spans, PostgreSQL's statements: the
// relay's polls, the sweeper and the metrics scrapes would otherwise each start a trace of
// their own, many a second, that no one looks for.
func ChildrenOnly(tp trace.TracerProvider) trace.TracerProvider { return childrenOnly{tp} }

type childrenOnly struct{ trace.TracerProvider }

func (p childrenOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childTracer{p.TracerProvider.Tracer(name, opts...)}
}

type childTracer struct{ trace.Tracer }

func (t childTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.Tracer.Start(ctx, name, opts...)
}

package telemetry

import (
	"context"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/orders/events"
)

// ScopeName is the instrumentation scope of the spans this service makes itself.
const ScopeName = "github.com/shopflow/orders"

// Our own span attributes (OpenTelemetry leaves the application's names to it).
const (
	OrderIDKey        = attribute.Key("order.id")
	OrderStatusKey    = attribute.Key("order.status")
	StorefrontKey     = attribute.Key("storefront")
	PaymentOutcomeKey = attribute.Key("payment.outcome")
)

// messagingSystem is messaging.system for every message span.
var messagingSystem = semconv.MessagingSystemKey.String("nats")

// TraceOf returns the trace context of ctx's span as message headers, or nil when ctx has no
// valid span context (no trace, nothing to continue).
func TraceOf(ctx context.Context) events.Trace {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := propagation.MapCarrier{}
	Propagator().Inject(ctx, c)
	return events.Trace(c)
}

// ContextWith returns ctx continuing t: its span context becomes the remote parent of the
// spans started from the result, its baggage ctx's baggage. An empty t returns ctx.
func ContextWith(ctx context.Context, t events.Trace) context.Context {
	if len(t) == 0 {
		return ctx
	}
	return Propagator().Extract(ctx, propagation.MapCarrier(t))
}

// StartPublish starts the producer span of publishing env ("send <subject>"): a child of the
// trace env carries when it carries one (an outbox event continues the step that recorded
// it), of ctx's span otherwise (the API's command continues its request). It returns env with
// Trace set to the new span, for its headers; end the span once the publish is acknowledged.
func StartPublish(ctx context.Context, tracer trace.Tracer, env events.Envelope) (events.Envelope, trace.Span) {
	sctx, span := tracer.Start(ContextWith(ctx, env.Trace), "send "+env.Subject,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingSystem,
			semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
			semconv.MessagingDestinationName(env.Subject), semconv.MessagingMessageID(env.ID),
			OrderIDKey.String(env.OrderID)))
	if t := TraceOf(sctx); t != nil {
		env.Trace = t
	}
	return env, span
}

// EndPublish ends a producer span, marking it failed when err is not nil.
func EndPublish(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Consume wraps a watermill handler so that each delivery of a message runs in a consumer
// span ("process <subject>") that continues the producer's trace: parented to the producer's
// span and linked to it, as the OpenTelemetry messaging conventions ask for a message that
// may be consumed long after it was produced. consumer names the durable consumer (the
// handler), subject what it consumes.
func Consume(tracer trace.Tracer, consumer, subject string, h message.NoPublishHandlerFunc) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		subject := destination(subject, msg)
		orig := msg.Context()
		parent := ContextWith(orig, traceOfMessage(msg))
		producer := trace.SpanContextFromContext(parent)
		opts := []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(messagingSystem,
				semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
				semconv.MessagingDestinationName(subject), semconv.MessagingConsumerGroupName(consumer),
				semconv.MessagingMessageID(msg.UUID), OrderIDKey.String(msg.Metadata.Get(events.MetaOrderID))),
		}
		if producer.IsRemote() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: producer}))
		}
		sctx, span := tracer.Start(parent, "process "+subject, opts...)
		defer span.End()
		msg.SetContext(sctx)
		defer msg.SetContext(orig) // the router's later stages see the message as it came
		err := h(msg)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

// destination is the subject a message was published to: subscribed, or, for a wildcard
// subscription (the projector's evt.>), the event subject its name maps to.
func destination(subscribed string, msg *message.Message) string {
	if !strings.ContainsAny(subscribed, "*>") {
		return subscribed
	}
	if name := msg.Metadata.Get(events.MetaName); name != "" {
		return events.EventSubject(name)
	}
	return subscribed
}

func traceOfMessage(msg *message.Message) events.Trace {
	t := events.Trace{}
	for _, k := range []string{events.MetaTraceParent, events.MetaTraceState, events.MetaBaggage} {
		if v := msg.Metadata.Get(k); v != "" {
			t[k] = v
		}
	}
	return t
}

// Annotate sets attributes on ctx's span (a no-op when it has none, or it is not recording).
func Annotate(ctx context.Context, attrs ...attribute.KeyValue) {
	trace.SpanFromContext(ctx).SetAttributes(attrs...)
}

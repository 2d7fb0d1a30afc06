package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/orders/domain/payment"
)

// Gateway wraps a payment gateway so that each call is a client span ("payment.<operation>")
// of the step that makes it, with order.id and payment.outcome. Neither the card token nor
// any key is recorded.
func Gateway(gw payment.Gateway, tracer trace.Tracer) payment.Gateway {
	return &tracedGateway{gw: gw, tracer: tracer}
}

type tracedGateway struct {
	gw     payment.Gateway
	tracer trace.Tracer
}

func (g *tracedGateway) start(ctx context.Context, op, orderID string) (context.Context, trace.Span) {
	return g.tracer.Start(ctx, "payment."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(OrderIDKey.String(orderID)))
}

// end records the call's outcome: ok, declined, transient, unknown_outcome, not_found or
// error; a decline is the gateway's answer, not a failure of the span.
func end(span trace.Span, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, payment.ErrDeclined):
		outcome = "declined"
	case errors.Is(err, payment.ErrNotFound):
		outcome = "not_found"
	case errors.Is(err, payment.ErrUnknownOutcome):
		outcome = "unknown_outcome"
	case errors.Is(err, payment.ErrTransient):
		outcome = "transient"
	default:
		outcome = "error"
	}
	span.SetAttributes(PaymentOutcomeKey.String(outcome))
	if outcome != "ok" && outcome != "declined" && outcome != "not_found" {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (g *tracedGateway) Authorize(ctx context.Context, req payment.AuthorizeRequest) (payment.Authorization, error) {
	ctx, span := g.start(ctx, "authorize", req.OrderID)
	a, err := g.gw.Authorize(ctx, req)
	end(span, err)
	return a, err
}

func (g *tracedGateway) Capture(ctx context.Context, key string, auth payment.Authorization) error {
	ctx, span := g.start(ctx, "capture", "")
	err := g.gw.Capture(ctx, key, auth)
	end(span, err)
	return err
}

func (g *tracedGateway) Void(ctx context.Context, key string, auth payment.Authorization) error {
	ctx, span := g.start(ctx, "void", "")
	err := g.gw.Void(ctx, key, auth)
	end(span, err)
	return err
}

func (g *tracedGateway) Refund(ctx context.Context, key string, auth payment.Authorization) error {
	ctx, span := g.start(ctx, "refund", "")
	err := g.gw.Refund(ctx, key, auth)
	end(span, err)
	return err
}

func (g *tracedGateway) Find(ctx context.Context, key, orderID string) (payment.Authorization, error) {
	ctx, span := g.start(ctx, "find", orderID)
	a, err := g.gw.Find(ctx, key, orderID)
	end(span, err)
	return a, err
}

func (g *tracedGateway) Abandon(ctx context.Context, req payment.AuthorizeRequest) (payment.Authorization, error) {
	ctx, span := g.start(ctx, "abandon", req.OrderID)
	a, err := g.gw.Abandon(ctx, req)
	end(span, err)
	return a, err
}

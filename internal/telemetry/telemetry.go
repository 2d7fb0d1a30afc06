// Package telemetry builds the process's OpenTelemetry tracing from the standard OTEL_*
// variables and carries trace context across the places our own code moves work: messages
// (events.Trace in headers and in the outbox), watermill handlers and log lines.
//
// Nothing here is package-level state: the composition root builds one Provider and hands its
// TracerProvider to whatever makes spans.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is service.name when OTEL_SERVICE_NAME is unset.
const DefaultServiceName = "orders"

// RoleKey is the resource attribute naming what the process runs (run, api, worker), so one
// service's spans can be told apart by process role.
const RoleKey = attribute.Key("orders.role")

// Provider is the process's tracing: a TracerProvider (a no-op one when nothing exports) and
// the shutdown that flushes what is buffered.
type Provider struct {
	trace.TracerProvider
	// Exporting reports whether spans leave the process (OTEL_EXPORTER_OTLP_ENDPOINT is set).
	Exporting bool
	shutdown  func(context.Context) error
}

// Getenv reads a variable; os.Getenv in production, a map in tests.
type Getenv func(string) string

// New builds the tracing that the OTEL_* variables describe, for a process of the given role.
// Without OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) nothing is
// exported and the provider is a no-op: spans cost an interface call, and the trace context a
// caller sent still passes through (the no-op tracer keeps the parent's span context). With
// it, spans are batched to OTLP over HTTP/protobuf, or gRPC when OTEL_EXPORTER_OTLP_PROTOCOL
// (or its _TRACES_ form) says grpc; the SDK reads the exporter's other variables (headers,
// timeout, certificates…) itself. OTEL_TRACES_SAMPLER/_ARG choose the sampler, parent-based
// always-on by default. Every variable this function reads, it reads through getenv.
func New(ctx context.Context, role string, getenv Getenv) (*Provider, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if getenv("OTEL_SDK_DISABLED") == "true" || !exporting(getenv) {
		return Off(), nil
	}
	smp, err := sampler(getenv)
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(ctx, getenv)
	if err != nil {
		return nil, err
	}
	res, err := newResource(ctx, role, getenv)
	if err != nil {
		return nil, errors.Join(err, exp.Shutdown(ctx))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithSampler(smp))
	return &Provider{TracerProvider: tp, Exporting: true, shutdown: tp.Shutdown}, nil
}

// Shutdown flushes the spans still buffered and stops exporting; call it once, on exit, with
// a context that bounds the flush.
func (p *Provider) Shutdown(ctx context.Context) error {
	if err := p.shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: shutdown: %w", err)
	}
	return nil
}

func exporting(getenv Getenv) bool {
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

func newExporter(ctx context.Context, getenv Getenv) (sdktrace.SpanExporter, error) {
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	// The endpoint is read here, through getenv, and passed on explicitly; the exporters read
	// their other variables (headers, timeout, certificates…) from the environment.
	url := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	base := strings.TrimSuffix(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/")
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch strings.ToLower(protocol) {
	case "", "http/protobuf":
		if url == "" {
			url = base + "/v1/traces" // the signal's path is appended to the base endpoint
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url))
	case "grpc":
		if url == "" {
			url = base
		}
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(url))
	default:
		return nil, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_PROTOCOL %q: want http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	return exp, nil
}

// sampler is what OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name, parent-based
// always-on when unset: a trace a caller sampled stays sampled in every process.
func sampler(getenv Getenv) (sdktrace.Sampler, error) {
	name := getenv("OTEL_TRACES_SAMPLER")
	ratio := 1.0
	if strings.HasSuffix(name, "traceidratio") {
		if arg := getenv("OTEL_TRACES_SAMPLER_ARG"); arg != "" {
			r, err := strconv.ParseFloat(arg, 64)
			if err != nil || r < 0 || r > 1 {
				return nil, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", arg)
			}
			ratio = r
		}
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	default:
		return nil, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER %q is not one this service knows", name)
	}
}

// newResource names the service: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the
// defaults (service.name orders) and the role.
func newResource(ctx context.Context, role string, getenv Getenv) (*resource.Resource, error) {
	name := getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = DefaultServiceName
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(name), RoleKey.String(role)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(), resource.WithProcessPID())
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil // a partial resource (a detector that failed) is still worth exporting
}

// Propagator is W3C Trace Context plus W3C Baggage, the propagation this service reads and
// writes everywhere: HTTP requests, message headers, the outbox.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Off is tracing that exports nothing, for the operator commands: they are short, and an
// operator's terminal is no place to wait for a flush.
func Off() *Provider {
	return &Provider{TracerProvider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}
}

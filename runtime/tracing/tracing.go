// Package tracing exports the runtime's OpenTelemetry spans over OTLP/HTTP,
// off unless an endpoint is configured: a span per MCP request (runtime/
// endpoint) and per upstream call (runtime/toolsets), linked by the W3C
// traceparent taken from the client and passed on to the upstreams.
//
// The tracer provider and the propagator are OpenTelemetry's globals: while
// tracing is off they are the no-op defaults, so spans cost nothing and no
// traceparent is read or sent.
package tracing

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName names the runtime in its spans' resource.
const ServiceName = "mcp-handle-runtime"

const instrumentation = "github.com/10xdotin/mcp-handle-operator/runtime"

// Configured reports whether endpoint or the standard OTLP environment
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) names
// a collector.
func Configured(endpoint string) bool {
	return endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup turns tracing on when Configured(endpoint): spans are batched to the
// OTLP/HTTP collector at endpoint, a base URL like
// OTEL_EXPORTER_OTLP_ENDPOINT's (/v1/traces is appended), or else at the
// one the environment names. The returned shutdown flushes the spans and
// turns tracing off again; it is a no-op when tracing stayed off.
func Setup(ctx context.Context, endpoint string) (shutdown func(context.Context) error, err error) {
	if !Configured(endpoint) {
		return func(context.Context) error { return nil }, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimSuffix(endpoint, "/")+"/v1/traces"))
	}
	exporter, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(ServiceName)))
	if err != nil {
		return nil, errors.Join(err, exporter.Shutdown(ctx))
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return func(ctx context.Context) error {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		return provider.Shutdown(ctx)
	}, nil
}

// Start starts a span of the runtime's tracer, a child of the span in ctx.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return otel.Tracer(instrumentation).Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// Extract returns ctx with the remote parent named by header's traceparent
// (while tracing is on).
func Extract(ctx context.Context, header http.Header) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(header))
}

// ExtractMeta returns ctx with the remote parent named by an MCP request's
// _meta.traceparent (and tracestate), as 2026-07-28 clients send it; ctx
// unchanged when meta names none.
func ExtractMeta(ctx context.Context, meta map[string]any) context.Context {
	carrier := propagation.MapCarrier{}
	for _, key := range []string{"traceparent", "tracestate"} {
		if v, ok := meta[key].(string); ok {
			carrier[key] = v
		}
	}
	if len(carrier) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, carrier)
}

// Transport returns base sending the traceparent of each request's context
// (while tracing is on), so an upstream's spans join the call's trace.
func Transport(base http.RoundTripper) http.RoundTripper {
	return injector{base: base}
}

type injector struct{ base http.RoundTripper }

func (i injector) RoundTrip(r *http.Request) (*http.Response, error) {
	header := http.Header{}
	otel.GetTextMapPropagator().Inject(r.Context(), propagation.HeaderCarrier(header))
	if len(header) == 0 {
		return i.base.RoundTrip(r)
	}
	// A RoundTripper must not modify the caller's request.
	r = r.Clone(r.Context())
	for k, v := range header {
		r.Header[k] = v
	}
	return i.base.RoundTrip(r)
}

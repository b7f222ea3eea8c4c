package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// sentTraceparent returns the traceparent a request sent through Transport
// from ctx carries.
func sentTraceparent(t *testing.T, ctx context.Context) string {
	t.Helper()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got <- r.Header.Get("traceparent") }))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := (&http.Client{Transport: Transport(http.DefaultTransport)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if req.Header.Get("traceparent") != "" {
		t.Error("Transport changed the caller's request")
	}
	return <-got
}

// remote is ctx with a client's span, as Extract leaves it.
func remote(ctx context.Context) context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

func TestOffWithoutEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := Setup(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = shutdown(context.Background()) }()
	ctx := Extract(context.Background(), http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("a traceparent header was read with tracing off")
	}
	ctx, span := Start(remote(context.Background()), "tools/call", trace.SpanKindServer)
	defer span.End()
	if span.IsRecording() {
		t.Error("a span records with tracing off")
	}
	if got := sentTraceparent(t, ctx); got != "" {
		t.Errorf("traceparent %q sent with tracing off", got)
	}
}

func TestOnWithEndpoint(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer collector.Close()
	shutdown, err := Setup(context.Background(), collector.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := Start(remote(context.Background()), "tools/call", trace.SpanKindClient)
	sc := span.SpanContext()
	if !span.IsRecording() || sc.TraceID() != (trace.TraceID{1}) {
		t.Fatalf("the span records %v in trace %s", span.IsRecording(), sc.TraceID())
	}
	if got, want := sentTraceparent(t, ctx), "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01"; got != want {
		t.Errorf("sent traceparent %q, want %q", got, want)
	}
	meta := ExtractMeta(context.Background(), map[string]any{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	if got := trace.SpanContextFromContext(meta).SpanID().String(); got != "b7ad6b7169203331" {
		t.Errorf("_meta.traceparent gave the parent %s", got)
	}
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Shut down is off again.
	if _, span := Start(context.Background(), "x", trace.SpanKindInternal); span.IsRecording() {
		t.Error("a span records after shutdown")
	}
}

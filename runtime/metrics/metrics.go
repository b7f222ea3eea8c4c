// Package metrics defines every Prometheus metric the runtime exports, in
// one place, and the edges that feed them: the HTTP handler (requests by
// endpoint kind, MCP method and status), the token endpoint (outcomes by
// grant type and error code), the MCP endpoint's token rejections, upstream
// calls by toolset, and collectors read at scrape time (grants, clients, the
// signing keys' expiry).
//
// Labels are bounded: kinds, methods, grant types and error codes outside
// the known sets are counted as "other", toolsets are the cluster's
// Toolsets, and the handle label exists only with PerHandle. A nil
// *Metrics records nothing, so tests and callers need no checks.
package metrics

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name of the runtime.
const Namespace = "mcp_runtime"

// Options are the runtime's --metrics-* flags.
type Options struct {
	// PerHandle adds a handle label to the request series (one series per
	// handle: size the Prometheus for the number of handles).
	PerHandle bool
}

// Metrics holds the runtime's collectors.
type Metrics struct {
	perHandle  bool
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	tokens     *prometheus.CounterVec
	rejections *prometheus.CounterVec
	upstream   *prometheus.HistogramVec
	upErrors   *prometheus.CounterVec
}

// New creates the collectors and registers them with reg (cmd/runtime:
// controller-runtime's registry, which also holds the client-go and process
// metrics).
func New(reg prometheus.Registerer, opts Options) *Metrics {
	requestLabels := []string{"kind", "mcp_method", "code"}
	durationLabels := []string{"kind", "mcp_method"}
	if opts.PerHandle {
		requestLabels = append(requestLabels, "handle")
		durationLabels = append(durationLabels, "handle")
	}
	m := &Metrics{
		perHandle: opts.PerHandle,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "requests_total",
			Help: "HTTP requests by endpoint kind, MCP method (JSON-RPC, MCP endpoint only) and status code."}, requestLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "request_duration_seconds",
			Help: "Time to answer HTTP requests, by endpoint kind and MCP method.", Buckets: prometheus.DefBuckets}, durationLabels),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "oauth_token_requests_total",
			Help: "Token endpoint requests by grant type and OAuth error code (empty when a token was issued)."}, []string{"grant_type", "error"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "token_rejections_total",
			Help: "MCP requests refused with 401, by the error code of the challenge."}, []string{"reason"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "upstream_request_duration_seconds",
			Help: "Calls to Toolset upstreams (tools/list, tools/call), by toolset and operation.", Buckets: prometheus.DefBuckets}, []string{"toolset", "operation"}),
		upErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "upstream_errors_total",
			Help: "Calls to Toolset upstreams that failed (unreachable, timed out, refused, no result), by toolset and operation."}, []string{"toolset", "operation"}),
	}
	reg.MustRegister(m.requests, m.duration, m.tokens, m.rejections, m.upstream, m.upErrors)
	return m
}

// note carries what the handlers learn about a request to the edge that
// records it.
type note struct {
	m                       *Metrics
	kind, mcpMethod, handle string
}

type noteKey struct{}

func noteOf(ctx context.Context) *note {
	n, _ := ctx.Value(noteKey{}).(*note)
	return n
}

// SetMCPMethod records the JSON-RPC method of an MCP request.
func SetMCPMethod(ctx context.Context, method string) {
	if n := noteOf(ctx); n != nil {
		n.mcpMethod = bounded(method, mcpMethods)
	}
}

// SetHandle records the handle a request was authenticated for: only
// existing handles, so the label stays bounded.
func SetHandle(ctx context.Context, handle string) {
	if n := noteOf(ctx); n != nil {
		n.handle = handle
	}
}

// Instrument records every request next serves. The kind comes from the
// path, before any handler runs.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	opts := []promhttp.Option{
		promhttp.WithLabelFromCtx("kind", func(ctx context.Context) string { return noteOf(ctx).kind }),
		promhttp.WithLabelFromCtx("mcp_method", func(ctx context.Context) string { return noteOf(ctx).mcpMethod }),
	}
	if m.perHandle {
		opts = append(opts, promhttp.WithLabelFromCtx("handle", func(ctx context.Context) string { return noteOf(ctx).handle }))
	}
	h := promhttp.InstrumentHandlerDuration(m.duration, promhttp.InstrumentHandlerCounter(m.requests, next, opts...), opts...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), noteKey{}, &note{m: m, kind: Kind(r.URL.Path)})))
	})
}

// Rejected counts an MCP request refused with 401, by the challenge's
// error code.
func Rejected(ctx context.Context, reason string) {
	if n := noteOf(ctx); n != nil {
		n.m.rejections.WithLabelValues(bounded(reason, rejectionReasons)).Inc()
	}
}

// ObserveUpstream records one call to a toolset's upstream.
func (m *Metrics) ObserveUpstream(toolset, operation string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.upstream.WithLabelValues(toolset, operation).Observe(took.Seconds())
	if err != nil {
		m.upErrors.WithLabelValues(toolset, operation).Inc()
	}
}

// Handler serves the exposition of g (the registry New registered with).
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// bounded returns v when it is one of known, else "other"; "" stays "".
func bounded(v string, known []string) string {
	if v == "" || slices.Contains(known, v) {
		return v
	}
	return "other"
}

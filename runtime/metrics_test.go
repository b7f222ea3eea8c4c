package runtime_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/metrics"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// TestMetrics drives the flow, the MCP endpoint and two toolsets (one
// unreachable) through two replicas with per-handle metrics, then parses
// /metrics with the Prometheus text parser and checks the series.
func TestMetrics(t *testing.T) {
	cfg := newStack(t).cfg
	links := testruntime.LinksUpstream(t, env.Client, cfg.Namespace, cfg.Issuer)
	var toolsets []*mcpv1alpha1.Toolset
	for name, u := range map[string]string{"metrics-links": links.URL + "/mcp", "metrics-down": "http://127.0.0.1:1/mcp"} {
		toolsets = append(toolsets, &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: mcpv1alpha1.ToolsetSpec{URL: u,
			Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}}})
	}
	acmeUses(t, toolsets...)

	reg := prometheus.NewRegistry()
	opts := metrics.Options{PerHandle: true}
	m := metrics.New(reg, opts)
	notAfter := time.Unix(1_900_000_000, 0)
	reg.MustRegister(metrics.NewCounts(env.Client, opts), metrics.NewKeyExpiry(map[string]func() (time.Time, bool){
		"access":   func() (time.Time, bool) { return notAfter, true },
		"upstream": func() (time.Time, bool) { return time.Time{}, false },
	}))
	s := newStack(t, func(srv *runtime.Server) { srv.Metrics = m }, withMCP(t))

	const hosted = "https://acme.mcp.10x.in/mcp"
	access, session := s.connect(t, hosted, "mcp.connect skills.read links.read")
	if status, _ := s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"mcpr1_nope.nope"}, "client_id": {"acme-chatgpt"}}); status != 400 {
		t.Fatalf("a bad refresh token: %d", status)
	}
	s.token(t, url.Values{"grant_type": {"password"}, "client_id": {"acme-chatgpt"}})

	waitfor.Eventually(t, 15*time.Second, "list_links", func() error {
		status, _, out, _ := s.rpc(t, hosted, access, session, "tools/call", map[string]any{"name": "metrics-links_list_links", "arguments": map[string]any{}})
		if result, _ := out["result"].(map[string]any); status != 200 || result == nil || result["isError"] == true {
			return fmt.Errorf("%d %v", status, out)
		}
		return nil
	})
	s.rpc(t, hosted, "", "", "ping", map[string]any{})
	s.rpc(t, hosted, "mcpv1_forged", "", "ping", map[string]any{})
	s.rpc(t, hosted, "ghp_notours", "", "ping", map[string]any{})
	s.do(t, "GET", "https://ai.10x.in/.well-known/oauth-authorization-server", nil)
	s.do(t, "GET", "https://ai.10x.in/wp-login.php", nil)

	families := scrape(t, reg)
	for _, c := range []struct {
		family string
		labels map[string]string
	}{
		{"mcp_runtime_requests_total", map[string]string{"kind": "oauth-token", "mcp_method": "", "code": "200", "handle": ""}},
		{"mcp_runtime_requests_total", map[string]string{"kind": "oauth-authorize", "code": "302"}},
		{"mcp_runtime_requests_total", map[string]string{"kind": "ui"}},
		{"mcp_runtime_requests_total", map[string]string{"kind": "metadata", "code": "200"}},
		{"mcp_runtime_requests_total", map[string]string{"kind": "other", "code": "404"}},
		{"mcp_runtime_requests_total", map[string]string{"kind": "mcp", "mcp_method": "initialize", "code": "200", "handle": "acme"}},
		{"mcp_runtime_requests_total", map[string]string{"kind": "mcp", "mcp_method": "tools/call", "code": "200", "handle": "acme"}},
		{"mcp_runtime_requests_total", map[string]string{"kind": "mcp", "code": "401", "handle": ""}},
		{"mcp_runtime_request_duration_seconds", map[string]string{"kind": "mcp", "mcp_method": "tools/call", "handle": "acme"}},
		{"mcp_runtime_oauth_token_requests_total", map[string]string{"grant_type": "authorization_code", "error": ""}},
		{"mcp_runtime_oauth_token_requests_total", map[string]string{"grant_type": "refresh_token", "error": "invalid_grant"}},
		{"mcp_runtime_oauth_token_requests_total", map[string]string{"grant_type": "other", "error": "unsupported_grant_type"}},
		{"mcp_runtime_token_rejections_total", map[string]string{"reason": "missing_bearer_token"}},
		{"mcp_runtime_token_rejections_total", map[string]string{"reason": "invalid_token"}},
		{"mcp_runtime_token_rejections_total", map[string]string{"reason": "invalid_token_format"}},
		{"mcp_runtime_upstream_request_duration_seconds", map[string]string{"toolset": "metrics-links", "operation": "tools/list"}},
		{"mcp_runtime_upstream_request_duration_seconds", map[string]string{"toolset": "metrics-links", "operation": "tools/call"}},
		{"mcp_runtime_upstream_errors_total", map[string]string{"toolset": "metrics-down", "operation": "tools/list"}},
		{"mcp_runtime_grants", map[string]string{"handle": "acme"}},
		{"mcp_runtime_oauth_clients", map[string]string{"registration": "Declared", "unused": "false"}},
		{"mcp_runtime_signing_key_not_after_timestamp_seconds", map[string]string{"keys": "access"}},
	} {
		if value(families, c.family, c.labels) <= 0 {
			t.Errorf("no %s%v in the exposition", c.family, c.labels)
		}
	}
	if v := value(families, "mcp_runtime_signing_key_not_after_timestamp_seconds", map[string]string{"keys": "access"}); v != float64(notAfter.Unix()) {
		t.Errorf("access key not-after %v, want %d", v, notAfter.Unix())
	}
	if value(families, "mcp_runtime_signing_key_not_after_timestamp_seconds", map[string]string{"keys": "upstream"}) != 0 {
		t.Errorf("a key set without the annotation is exported")
	}
	if value(families, "mcp_runtime_upstream_errors_total", map[string]string{"toolset": "metrics-links"}) != 0 {
		t.Errorf("the reachable toolset counts errors")
	}
	// Labels stay bounded: what a client sends is never a label value.
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if strings.Contains(l.GetValue(), "wp-login") || strings.Contains(l.GetValue(), "password") {
					t.Errorf("%s carries the client's %s=%q", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// scrape serves the registry as cmd/runtime does and parses the text
// exposition.
func scrape(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	metrics.Handler(g).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return families
}

// value sums the samples (a histogram's count) of the family whose labels
// include want.
func value(families map[string]*dto.MetricFamily, family string, want map[string]string) float64 {
	var sum float64
	for _, m := range families[family].GetMetric() {
		match := true
		for k, v := range want {
			// An empty value is an absent label in Prometheus.
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) &&
				(v != "" || slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() != "" })) {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

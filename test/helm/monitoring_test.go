package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime/metrics"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

// operatorMetrics are the controller-runtime and client-go metrics the
// rules and the dashboard use; both binaries export them from
// controller-runtime's registry.
var operatorMetrics = []string{
	"rest_client_requests_total", "controller_runtime_reconcile_total",
	"controller_runtime_reconcile_time_seconds_bucket", "workqueue_depth",
}

// runtimeMetrics returns the names the runtime exports, found by driving
// each collector of runtime/metrics once.
func runtimeMetrics(t *testing.T) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.Options{})
	reg.MustRegister(metrics.NewCounts(fake.NewClientBuilder().WithScheme(scheme.New()).
		WithObjects(&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "c"}}).Build(), metrics.Options{}),
		metrics.NewKeyExpiry(map[string]func() (time.Time, bool){"access": func() (time.Time, bool) { return time.Now(), true }}))
	m.ObserveUpstream("t", "tools/call", time.Second, errors.New("down"))
	h := m.Instrument(m.TokenEndpoint(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.Rejected(r.Context(), "invalid_token")
	})))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/oauth/token", nil))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
		if f.GetType().String() == "HISTOGRAM" {
			names = append(names, f.GetName()+"_bucket", f.GetName()+"_count", f.GetName()+"_sum")
		}
	}
	return names
}

var promqlCheckPath = sync.OnceValues(func() (string, error) {
	return controlplane.Tool("PROMQL_CHECK", "build-promql-check.sh")
})

// parsed is one expression as promql-check (hack/promql) reports it.
type parsed struct {
	Where, Expr, Error string
	Metrics            []string
}

// parseExprs runs promql-check, Prometheus' own parser, on a rules file (the
// PrometheusRule's spec) and a Grafana dashboard, and returns every
// expression with the metrics it selects; a rule that Prometheus would not
// load fails the test.
func parseExprs(t *testing.T, rules any, dashboard string) []parsed {
	t.Helper()
	bin, err := promqlCheckPath()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec, err := json.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	// JSON is YAML, which Prometheus' rules loader reads.
	rulesFile, dashboardFile := filepath.Join(dir, "rules.json"), filepath.Join(dir, "dashboard.json")
	if err := errors.Join(os.WriteFile(rulesFile, spec, 0o600), os.WriteFile(dashboardFile, []byte(dashboard), 0o600)); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-rules", rulesFile, "-dashboard", dashboardFile)
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var results []parsed
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("promql-check: %v (%v): %s%s", err, runErr, out, stderr.String())
	}
	for _, r := range results {
		if r.Error != "" {
			t.Errorf("%s: %s", r.Where, r.Error)
		}
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("promql-check: %v", runErr)
	}
	return results
}

// TestMonitoring checks the PrometheusRule and the dashboard: the four
// alerts exist, Prometheus' parser accepts every rule and expression, and
// each selects only metrics that are exported; the dashboard is valid JSON.
func TestMonitoring(t *testing.T) {
	known := append(runtimeMetrics(t), operatorMetrics...)
	objs := mustRender(t, "no-crds-netpol-monitor")
	rule := mustFind(t, objs, "PrometheusRule", release)
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	var alerts []string
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			alerts = append(alerts, r.(map[string]any)["alert"].(string))
		}
	}
	slices.Sort(alerts)
	if want := []string{"MCPApiserverUnavailable", "MCPRuntimeHighErrorRate", "MCPSigningKeyExpiresSoon", "MCPToolsetUnreachable"}; !slices.Equal(alerts, want) {
		t.Errorf("alerts %v, want %v", alerts, want)
	}
	cm := mustFind(t, objs, "ConfigMap", release+"-dashboard")
	raw, _, _ := unstructured.NestedString(cm.Object, "data", "mcp-handle-operator.json")
	var dashboard struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(raw), &dashboard); err != nil || len(dashboard.Panels) == 0 {
		t.Fatalf("the dashboard is not valid JSON with panels: %v", err)
	}
	spec, _, _ := unstructured.NestedMap(rule.Object, "spec")
	exprs := parseExprs(t, spec, raw)
	if want := len(alerts) + len(dashboard.Panels); len(exprs) < want {
		t.Errorf("promql-check parsed %d expressions, want at least %d (every rule and panel)", len(exprs), want)
	}
	for _, e := range exprs {
		if len(e.Metrics) == 0 && e.Error == "" {
			t.Errorf("%s: %q names no metric", e.Where, e.Expr)
		}
		for _, n := range e.Metrics {
			if !slices.Contains(known, n) {
				t.Errorf("%s: %s is not a metric the runtime or the operator exports", e.Where, n)
			}
		}
	}
	for _, sm := range []string{release + "-manager", release + "-runtime"} {
		mustFind(t, objs, "ServiceMonitor", sm)
	}
	mustFind(t, objs, "Service", release+"-runtime-metrics")
}

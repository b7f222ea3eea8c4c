package helm

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime/metrics"
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

var metricName = regexp.MustCompile(`\b(mcp_runtime|controller_runtime|rest_client|workqueue)_[a-z_]+\b`)

// checkExpr is a light check of a PromQL expression: brackets balance
// outside strings, and every metric it names is exported.
func checkExpr(t *testing.T, where, expr string, known []string) {
	t.Helper()
	var stack []rune
	inString := false
	for _, r := range expr {
		switch {
		case r == '"':
			inString = !inString
		case inString:
		case strings.ContainsRune("([{", r):
			stack = append(stack, r)
		case strings.ContainsRune(")]}", r):
			if len(stack) == 0 || "([{"[strings.IndexRune(")]}", r)] != byte(stack[len(stack)-1]) {
				t.Errorf("%s: unbalanced %q in %s", where, r, expr)
				return
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 || inString || strings.TrimSpace(expr) == "" {
		t.Errorf("%s: unterminated expression %q", where, expr)
	}
	names := metricName.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: %q names no metric", where, expr)
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			t.Errorf("%s: %s is not a metric the runtime or the operator exports", where, n)
		}
	}
}

// TestMonitoring checks the PrometheusRule and the dashboard: the four
// alerts exist, and every expression is well formed and names only metrics
// that are exported; the dashboard is valid JSON.
func TestMonitoring(t *testing.T) {
	known := append(runtimeMetrics(t), operatorMetrics...)
	objs := mustRender(t, "no-crds-netpol-monitor")
	rule := mustFind(t, objs, "PrometheusRule", release)
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	var alerts []string
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			r := r.(map[string]any)
			alerts = append(alerts, r["alert"].(string))
			checkExpr(t, r["alert"].(string), r["expr"].(string), known)
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
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			checkExpr(t, "panel "+p.Title, target.Expr, known)
		}
	}
	for _, sm := range []string{release + "-manager", release + "-runtime"} {
		mustFind(t, objs, "ServiceMonitor", sm)
	}
	mustFind(t, objs, "Service", release+"-runtime-metrics")
}

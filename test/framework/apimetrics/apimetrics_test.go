package apimetrics

import (
	"strings"
	"testing"
)

func TestParseWriteCounts(t *testing.T) {
	metrics := `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="mcp.10x.in",resource="connections",scope="cluster",subresource="",verb="POST",version="v1alpha1"} 12
apiserver_request_total{code="200",component="apiserver",dry_run="",group="mcp.10x.in",resource="connections",scope="cluster",subresource="status",verb="PUT",version="v1alpha1"} 30
apiserver_request_total{code="409",component="apiserver",dry_run="",group="mcp.10x.in",resource="connections",scope="cluster",subresource="status",verb="PUT",version="v1alpha1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="mcp.10x.in",resource="connections",scope="cluster",subresource="",verb="GET",version="v1alpha1"} 99
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="namespace",subresource="",verb="PUT",version="v1"} 5
`
	got, err := parseWriteCounts(strings.NewReader(metrics))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"connections": 12, "connections/status": 32, "leases": 5}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	before := map[string]float64{"connections": 10, "leases": 5}
	if d := Delta(before, got); len(d) != 2 || d["connections"] != 2 || d["connections/status"] != 32 || Sum(d) != 34 {
		t.Errorf("Delta = %v", d)
	}
}

package runtime

import (
	"net/http"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/controllers"
)

// TestRoutedPathsAreServed: every document the operator's HTTPRoutes send to
// the runtime is answered by a runtime handler, not the mux's plain 404, so
// the edge routes nothing the runtime does not serve. MCP paths are covered
// by the endpoint's tests (this server has no MCP endpoint).
func TestRoutedPathsAreServed(t *testing.T) {
	s := testServer(t)
	h := s.Handler()
	objs := controllers.PlatformObjects(s.Config)
	objs = append(objs, controllers.HandleObjects(s.Config, &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme"}})...)
	checked := 0
	for _, o := range objs {
		route, ok := o.(*gatewayv1.HTTPRoute)
		if !ok {
			continue
		}
		host := string(route.Spec.Hostnames[0])
		for _, rule := range route.Spec.Rules {
			for _, m := range rule.Matches {
				path := *m.Path.Value
				if *m.Path.Type != gatewayv1.PathMatchExact {
					continue
				}
				if _, mcp := s.Config.ResourceAt(host, path); mcp {
					continue
				}
				resp, body := fetch(t, h, host, path)
				if resp.StatusCode == http.StatusNotFound && resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s routes %s%s, which the runtime does not serve: %d %s", route.Name, host, path, resp.StatusCode, body)
				}
				checked++
			}
		}
	}
	if checked < 4 {
		t.Fatalf("checked %d paths: the routes changed shape", checked)
	}
}

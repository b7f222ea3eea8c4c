package controllers_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/controllers"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// TestEveryWrittenObjectPassesValidation applies, as a server-side dry run,
// every object the operator writes in both TLS modes, so the Gateway API and
// cert-manager CRD schemas (and their CEL rules) judge them.
func TestEveryWrittenObjectPassesValidation(t *testing.T) {
	handles := []mcpv1alpha1.Handle{{ObjectMeta: metav1.ObjectMeta{Name: "valid", UID: "0000-valid"}}}
	clients := []mcpv1alpha1.OAuthClient{{
		ObjectMeta: metav1.ObjectMeta{Name: "valid-app", UID: "0000-app"},
		Spec:       mcpv1alpha1.OAuthClientSpec{Handle: "valid", TokenEndpointAuthMethod: mcpv1alpha1.TokenEndpointAuthClientSecretPost},
	}}
	for _, mode := range []string{platform.TLSModeWildcard, platform.TLSModePerHandle} {
		cfg := platformConfig(t, func(c *platform.Config) { c.TLS.Mode = mode })
		objs, err := controllers.Render(cfg, env.Client.Scheme(), handles, clients)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) < 5 {
			t.Fatalf("%s: rendered %d objects", mode, len(objs))
		}
		for _, o := range objs {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
			if err != nil {
				t.Fatal(err)
			}
			delete(m, "status")
			u := &unstructured.Unstructured{Object: m}
			err = env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("validation-test"), client.ForceOwnership, client.DryRunAll)
			if err != nil {
				t.Errorf("%s: %s %s refused by the apiserver: %v", mode, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
			}
		}
	}
}

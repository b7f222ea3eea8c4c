package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/controllers"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// countingClient counts the applies that reach the apiserver.
type countingClient struct {
	client.Client
	applies int
}

func (c *countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.applies++
	return c.Client.Apply(ctx, obj, opts...)
}

// TestApplySkipsUnchangedAndRemovesWhatIsNoLongerSet: the same request on
// the version its last apply left is not sent again; a request without a
// field the previous one set removes it from the object; a write by anyone
// else makes the next apply go out and revert it.
func TestApplySkipsUnchangedAndRemovesWhatIsNoLongerSet(t *testing.T) {
	c := &countingClient{Client: env.Client}
	a := &controllers.Applier{}
	route := func(hosts ...gatewayv1.Hostname) *gwapply.HTTPRouteApplyConfiguration {
		l := map[string]string{"keep": "yes"}
		if len(hosts) > 1 {
			l["old"] = "yes"
		}
		return gwapply.HTTPRoute("apply-fields", namespace).WithLabels(l).WithSpec(gwapply.HTTPRouteSpec().WithHostnames(hosts...))
	}
	get := func() *gatewayv1.HTTPRoute {
		t.Helper()
		r := &gatewayv1.HTTPRoute{}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "apply-fields"}, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	apply := func(desired *gwapply.HTTPRouteApplyConfiguration, existing *gatewayv1.HTTPRoute) bool {
		t.Helper()
		var cached client.Object
		if existing != nil {
			cached = existing
		}
		_, changed, err := controllers.ApplyOwned(a, ctx, c, desired, cached)
		if err != nil {
			t.Fatal(err)
		}
		return changed
	}

	if !apply(route("a.example.com", "b.example.com"), nil) {
		t.Fatal("creating the route is no change")
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, get()) })
	r := get()
	if apply(route("a.example.com", "b.example.com"), r) || c.applies != 1 {
		t.Fatalf("the same request on the version it left: changed or sent (%d applies)", c.applies)
	}

	if !apply(route("a.example.com"), r) || c.applies != 2 {
		t.Fatalf("a request without a hostname and a label: no change (%d applies)", c.applies)
	}
	r = get()
	if len(r.Spec.Hostnames) != 1 || r.Labels["old"] != "" || r.Labels["keep"] != "yes" {
		t.Fatalf("fields no longer set are still there: hostnames %v, labels %v", r.Spec.Hostnames, r.Labels)
	}

	r.Labels["keep"] = "edited"
	if err := env.Client.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	if !apply(route("a.example.com"), get()) || c.applies != 3 || get().Labels["keep"] != "yes" {
		t.Fatalf("a hand edit was not reverted: labels %v (%d applies)", get().Labels, c.applies)
	}

	// What is forgotten (its handle is gone) is applied again, not skipped.
	r = get()
	if apply(route("a.example.com"), r) || c.applies != 3 {
		t.Fatalf("the same request on the version it left was sent (%d applies)", c.applies)
	}
	controllers.Forget(a, route("a.example.com"))
	if apply(route("a.example.com"), r); c.applies != 4 {
		t.Fatalf("a forgotten object was skipped (%d applies)", c.applies)
	}
}

// TestFieldAnOlderOperatorSetIsRemoved: what an older operator wrote under
// the same field manager but this one no longer sets (a label, a rule's
// timeouts) is gone after this operator starts, and what it does set stays.
func TestFieldAnOlderOperatorSetIsRemoved(t *testing.T) {
	cfg := platformConfig(t)
	h := createHandle(t, "older", mcpv1alpha1.HandleSpec{})
	h.SetGroupVersionKind(mcpv1alpha1.GroupVersion.WithKind("Handle"))
	var hosted client.Object
	for _, o := range controllers.HandleObjects(cfg, h) {
		if o.GetName() == "handle-older" {
			hosted = o
		}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(hosted)
	if err != nil {
		t.Fatal(err)
	}
	older := &unstructured.Unstructured{Object: m}
	delete(older.Object, "status")
	unstructured.RemoveNestedField(older.Object, "metadata", "creationTimestamp")
	older.SetLabels(map[string]string{controllers.LabelHandle: "older", "mcp.10x.in/retired": "yes"})
	rules, _, _ := unstructured.NestedSlice(older.Object, "spec", "rules")
	rules[0].(map[string]any)["timeouts"] = map[string]any{"request": "30s"}
	if err := unstructured.SetNestedSlice(older.Object, rules, "spec", "rules"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(older), client.FieldOwner(controllers.FieldOwner), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	if r := waitRoute(t, "handle-older"); r.Spec.Rules[0].Timeouts == nil {
		t.Fatal("the older operator's timeouts were not written")
	}

	startOperator(t, cfg)
	took := waitfor.Eventually(t, 10*time.Second, "retired fields removed", func() error {
		r, err := getRoute("handle-older")
		if err != nil {
			return err
		}
		if r.Labels["mcp.10x.in/retired"] != "" || r.Spec.Rules[0].Timeouts != nil {
			return fmt.Errorf("labels %v, timeouts %+v", r.Labels, r.Spec.Rules[0].Timeouts)
		}
		if r.Labels[controllers.LabelComponent] != controllers.ComponentHosted || len(r.Spec.Rules[0].Matches) != 3 {
			return fmt.Errorf("the operator's own fields are missing: labels %v, matches %d", r.Labels, len(r.Spec.Rules[0].Matches))
		}
		return nil
	})
	t.Logf("fields of an older operator removed %s after start", took)
}

package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	mcpapply "github.com/10xdotin/mcp-handle-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/ssa"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

var ctx = context.Background()

func createHandle(t *testing.T, name string, spec mcpv1alpha1.HandleSpec) *mcpv1alpha1.Handle {
	t.Helper()
	h := &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := env.Client.Create(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, h) })
	return h
}

func getHandle(t *testing.T, name string) *mcpv1alpha1.Handle {
	t.Helper()
	h := &mcpv1alpha1.Handle{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: name}, h); err != nil {
		t.Fatal(err)
	}
	return h
}

// condition waits until the handle's condition has the status and reason.
func waitCondition(t *testing.T, handle, condType string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	waitfor.Eventually(t, 10*time.Second, fmt.Sprintf("%s %s=%s/%s", handle, condType, status, reason), func() error {
		h := getHandle(t, handle)
		got = meta.FindStatusCondition(h.Status.Conditions, condType)
		if got == nil || got.Status != status || got.Reason != reason {
			return fmt.Errorf("conditions:\n%s", toYAML(h.Status.Conditions))
		}
		if got.ObservedGeneration != h.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", got.ObservedGeneration, h.Generation)
		}
		return nil
	})
	return got
}

func getRoute(name string) (*gatewayv1.HTTPRoute, error) {
	r := &gatewayv1.HTTPRoute{}
	err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, r)
	return r, err
}

func waitRoute(t *testing.T, name string) *gatewayv1.HTTPRoute {
	t.Helper()
	var r *gatewayv1.HTTPRoute
	waitfor.Eventually(t, 10*time.Second, "HTTPRoute "+name, func() (err error) {
		r, err = getRoute(name)
		return err
	})
	return r
}

// acceptRoute writes the parent status a Gateway implementation would.
func acceptRoute(t *testing.T, r *gatewayv1.HTTPRoute, accepted metav1.ConditionStatus, reason, message string) {
	t.Helper()
	now := metav1.Now()
	r.Status.Parents = nil
	for _, ref := range r.Spec.ParentRefs {
		r.Status.Parents = append(r.Status.Parents, gatewayv1.RouteParentStatus{
			ParentRef:      ref,
			ControllerName: "example.com/gateway-controller",
			Conditions: []metav1.Condition{
				{Type: "Accepted", Status: accepted, Reason: reason, Message: message, LastTransitionTime: now, ObservedGeneration: r.Generation},
				{Type: "ResolvedRefs", Status: metav1.ConditionTrue, Reason: "ResolvedRefs", Message: "resolved", LastTransitionTime: now, ObservedGeneration: r.Generation},
			},
		})
	}
	if err := env.Client.Status().Update(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// readyCertificate writes the Ready condition cert-manager would.
func readyCertificate(t *testing.T, name string, status cmmeta.ConditionStatus, reason, message string) {
	t.Helper()
	c := &certmanagerv1.Certificate{}
	waitfor.Eventually(t, 10*time.Second, "Certificate "+name, func() error {
		return env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, c)
	})
	now := metav1.Now()
	c.Status.Conditions = []certmanagerv1.CertificateCondition{{Type: certmanagerv1.CertificateConditionReady, Status: status, Reason: reason, Message: message, LastTransitionTime: &now}}
	if err := env.Client.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// reportServing applies the Serving condition as the runtime does, with its
// own field manager.
func reportServing(t *testing.T, handle string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	serving := ssa.Conditions(metav1.Condition{Type: mcpv1alpha1.HandleConditionServing, Status: status, Reason: reason,
		Message: "runtime test double", LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second))})
	if err := ssa.ApplyStatus(ctx, env.Client, mcpapply.Handle(handle).WithStatus(mcpapply.HandleStatus().WithConditions(serving...)),
		"mcp-handle-runtime"); err != nil {
		t.Fatal(err)
	}
}

func TestHandleBecomesRoutesAndReportsStatus(t *testing.T) {
	cfg := platformConfig(t)
	startOperator(t, cfg)
	h := createHandle(t, "acme", mcpv1alpha1.HandleSpec{})

	hosted := waitRoute(t, "handle-acme")
	compat := waitRoute(t, "handle-acme-compat")
	for _, r := range []*gatewayv1.HTTPRoute{hosted, compat} {
		ref := metav1.GetControllerOf(r)
		if ref == nil || ref.UID != h.UID || ref.Kind != "Handle" {
			t.Errorf("%s: controller owner = %+v, want Handle acme", r.Name, ref)
		}
	}
	if got := hosted.Spec.Hostnames; len(got) != 1 || got[0] != "acme.mcp.10x.in" {
		t.Errorf("hosted hostnames = %v", got)
	}
	if got := paths(hosted); got != "Exact /mcp, Exact /.well-known/oauth-protected-resource/mcp, Exact /.well-known/oauth-protected-resource" {
		t.Errorf("hosted paths = %s", got)
	}
	if got := compat.Spec.Hostnames; len(got) != 1 || got[0] != "ai.10x.in" {
		t.Errorf("compat hostnames = %v", got)
	}
	if got := paths(compat); got != "Exact /mcp/acme/mcp, Exact /.well-known/oauth-protected-resource/mcp/acme/mcp" {
		t.Errorf("compat paths = %s", got)
	}
	backend := hosted.Spec.Rules[0].BackendRefs[0]
	if backend.Name != "mcp-runtime" || *backend.Port != 8080 {
		t.Errorf("backend = %+v", backend)
	}
	platformRoute := waitRoute(t, "mcp-platform")
	if got := paths(platformRoute); !strings.HasPrefix(got, "Exact /mcp, Exact /.well-known/oauth-protected-resource/mcp,") {
		t.Errorf("platform paths = %s", got)
	}

	waitCondition(t, "acme", "Accepted", metav1.ConditionTrue, "Accepted")
	pending := waitCondition(t, "acme", "RouteAccepted", metav1.ConditionUnknown, "Pending")
	if !strings.Contains(pending.Message, "waiting for the Gateway implementation") {
		t.Errorf("pending message = %q", pending.Message)
	}
	got := getHandle(t, "acme").Status.Endpoints
	want := &mcpv1alpha1.HandleEndpoints{Hosted: "https://acme.mcp.10x.in/mcp", Gateway: "https://ai.10x.in/mcp", Compatibility: "https://ai.10x.in/mcp/acme/mcp"}
	if *got != *want {
		t.Errorf("endpoints = %+v, want %+v", got, want)
	}

	// The Gateway refuses the hosted route: RouteAccepted mirrors its reason and message.
	acceptRoute(t, waitRoute(t, "handle-acme"), metav1.ConditionFalse, "NotAllowedByListeners", "no listener for acme.mcp.10x.in")
	refused := waitCondition(t, "acme", "RouteAccepted", metav1.ConditionFalse, "NotAllowedByListeners")
	if !strings.Contains(refused.Message, "no listener for acme.mcp.10x.in") {
		t.Errorf("refused message = %q", refused.Message)
	}
	waitCondition(t, "acme", "Ready", metav1.ConditionFalse, "NotAllowedByListeners")

	acceptRoute(t, waitRoute(t, "handle-acme"), metav1.ConditionTrue, "Accepted", "accepted")
	acceptRoute(t, waitRoute(t, "handle-acme-compat"), metav1.ConditionTrue, "Accepted", "accepted")
	waitCondition(t, "acme", "RouteAccepted", metav1.ConditionTrue, "Accepted")

	waitCondition(t, "acme", "CertificateReady", metav1.ConditionUnknown, "Pending")
	readyCertificate(t, "mcp-platform", cmmeta.ConditionFalse, "Issuing", "issuing a new certificate")
	waitCondition(t, "acme", "CertificateReady", metav1.ConditionFalse, "Issuing")
	readyCertificate(t, "mcp-platform", cmmeta.ConditionTrue, "Ready", "Certificate is up to date and has not expired")
	waitCondition(t, "acme", "CertificateReady", metav1.ConditionTrue, "Ready")

	waitCondition(t, "acme", "Ready", metav1.ConditionFalse, mcpv1alpha1.HandleReasonNotServing)
	reportServing(t, "acme", metav1.ConditionTrue, "Serving")
	waitCondition(t, "acme", "Ready", metav1.ConditionTrue, "Ready")
	// The operator's status writes leave the runtime's condition alone.
	if c := meta.FindStatusCondition(getHandle(t, "acme").Status.Conditions, "Serving"); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Serving = %+v after the operator's writes", c)
	}
}

func TestHostnameConflict(t *testing.T) {
	cfg := platformConfig(t)
	startOperator(t, cfg)
	foreign := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "squatter", Namespace: "team-a"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "mcp-gateway", Namespace: ptr.To(gatewayv1.Namespace(namespace))}}},
			Hostnames:       []gatewayv1.Hostname{"taken.mcp.10x.in"},
		},
	}
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	createHandle(t, "taken", mcpv1alpha1.HandleSpec{})
	c := waitCondition(t, "taken", "Accepted", metav1.ConditionFalse, mcpv1alpha1.HandleReasonHostnameConflict)
	if !strings.Contains(c.Message, "HTTPRoute team-a/squatter") {
		t.Errorf("conflict message does not name the other route: %q", c.Message)
	}
	waitCondition(t, "taken", "Ready", metav1.ConditionFalse, mcpv1alpha1.HandleReasonHostnameConflict)
	for _, name := range []string{"handle-taken", "handle-taken-compat"} {
		if _, err := getRoute(name); !apierrors.IsNotFound(err) {
			t.Errorf("%s written despite the conflict (err=%v)", name, err)
		}
	}

	if err := env.Client.Delete(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	waitRoute(t, "handle-taken")
	waitCondition(t, "taken", "Accepted", metav1.ConditionTrue, "Accepted")

	// A route created after the handle's own does not take the hostname.
	late := foreign.DeepCopy()
	late.ResourceVersion = ""
	late.Name = "latecomer"
	if err := env.Client.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, late) })
	// The positive signal that the operator reconciled with the latecomer
	// in its cache: a hand edit of the handle's route, made after the
	// latecomer, is repaired. The operator's route informer sees the two in
	// that order, so the repairing reconcile listed the latecomer too; had
	// it taken the hostname, that reconcile would have deleted the route.
	own, err := getRoute("handle-taken")
	if err != nil {
		t.Fatal(err)
	}
	own.Spec.Hostnames = append(own.Spec.Hostnames, "evil.example.com")
	if err := env.Client.Update(ctx, own); err != nil {
		t.Fatal(err)
	}
	waitfor.Eventually(t, 10*time.Second, "the hand edit made after the latecomer repaired", func() error {
		got, err := getRoute("handle-taken")
		if err != nil {
			return err
		}
		if h := got.Spec.Hostnames; len(h) != 1 {
			return fmt.Errorf("hostnames %v", h)
		}
		return nil
	})
}

func TestDriftIsRepaired(t *testing.T) {
	cfg := platformConfig(t)
	startOperator(t, cfg)
	createHandle(t, "drift", mcpv1alpha1.HandleSpec{})
	r := waitRoute(t, "handle-drift")

	r.Spec.Hostnames = []gatewayv1.Hostname{"evil.example.com"}
	if err := env.Client.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	took := waitfor.Eventually(t, 10*time.Second, "hand edit reverted", func() error {
		got, err := getRoute("handle-drift")
		if err != nil {
			return err
		}
		if h := got.Spec.Hostnames; len(h) != 1 || h[0] != "drift.mcp.10x.in" {
			return fmt.Errorf("hostnames %v", h)
		}
		return nil
	})
	t.Logf("hand edit of the hosted route reverted in %s", took)

	// An appended item is a change too, though every item the operator
	// wrote is still there.
	r, err := getRoute("handle-drift")
	if err != nil {
		t.Fatal(err)
	}
	r.Spec.Hostnames = append(r.Spec.Hostnames, "evil.example.com")
	if err := env.Client.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	took = waitfor.Eventually(t, 10*time.Second, "appended hostname removed", func() error {
		got, err := getRoute("handle-drift")
		if err != nil {
			return err
		}
		if h := got.Spec.Hostnames; len(h) != 1 {
			return fmt.Errorf("hostnames %v", h)
		}
		return nil
	})
	t.Logf("hostname appended to the hosted route removed in %s", took)

	if err := env.Client.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	took = waitfor.Eventually(t, 10*time.Second, "deleted route recreated", func() error {
		got, err := getRoute("handle-drift")
		if err == nil && got.UID == r.UID {
			return fmt.Errorf("still the deleted route")
		}
		return err
	})
	t.Logf("deleted hosted route recreated in %s", took)

	p := waitRoute(t, "mcp-platform")
	if err := env.Client.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	took = waitfor.Eventually(t, 10*time.Second, "platform route recreated", func() error {
		got, err := getRoute("mcp-platform")
		if err == nil && got.UID == p.UID {
			return fmt.Errorf("still the deleted route")
		}
		return err
	})
	t.Logf("deleted platform route recreated in %s", took)
}

func TestSuspendedHandleKeepsItsObjects(t *testing.T) {
	cfg := platformConfig(t)
	startOperator(t, cfg)
	createHandle(t, "paused", mcpv1alpha1.HandleSpec{})
	route := waitRoute(t, "handle-paused")

	h := getHandle(t, "paused")
	h.Spec.Suspended = true
	if err := env.Client.Update(ctx, h); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, "paused", "Ready", metav1.ConditionFalse, mcpv1alpha1.HandleReasonSuspended)
	got, err := getRoute("handle-paused")
	if err != nil || got.UID != route.UID {
		t.Errorf("suspending replaced or removed the route: %v", err)
	}
}

func TestDeletedHandleIsGarbageCollected(t *testing.T) {
	cfg := platformConfig(t)
	startOperator(t, cfg)
	h := createHandle(t, "gone", mcpv1alpha1.HandleSpec{})
	waitRoute(t, "handle-gone")
	waitRoute(t, "handle-gone-compat")
	if err := env.Client.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"handle-gone", "handle-gone-compat"} {
		waitfor.Eventually(t, 30*time.Second, name+" garbage-collected", func() error {
			if _, err := getRoute(name); !apierrors.IsNotFound(err) {
				return stillThere(err)
			}
			return nil
		})
	}
}

func TestPerHandleTLS(t *testing.T) {
	cfg := platformConfig(t, func(c *platform.Config) { c.TLS.Mode = platform.TLSModePerHandle })
	startOperator(t, cfg)
	createHandle(t, "solo", mcpv1alpha1.HandleSpec{})

	hosted := waitRoute(t, "handle-solo")
	if ref := hosted.Spec.ParentRefs[0]; ref.Kind == nil || *ref.Kind != "ListenerSet" || ref.Name != "handle-solo" {
		t.Errorf("hosted route parent = %+v, want ListenerSet handle-solo", ref)
	}
	ls := &gatewayv1.ListenerSet{}
	waitfor.Eventually(t, 10*time.Second, "ListenerSet handle-solo", func() error {
		return env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "handle-solo"}, ls)
	})
	l := ls.Spec.Listeners[0]
	if *l.Hostname != "solo.mcp.10x.in" || l.TLS.CertificateRefs[0].Name != "handle-solo-tls" {
		t.Errorf("listener = %+v", l)
	}
	cert := &certmanagerv1.Certificate{}
	waitfor.Eventually(t, 10*time.Second, "Certificate handle-solo", func() error {
		return env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "handle-solo"}, cert)
	})
	if got := cert.Spec.DNSNames; len(got) != 1 || got[0] != "solo.mcp.10x.in" {
		t.Errorf("certificate DNS names = %v", got)
	}
	readyCertificate(t, "handle-solo", cmmeta.ConditionTrue, "Ready", "Certificate is up to date and has not expired")
	waitCondition(t, "solo", "CertificateReady", metav1.ConditionTrue, "Ready")

	platformCert := &certmanagerv1.Certificate{}
	waitfor.Eventually(t, 10*time.Second, "platform certificate for the gateway host only", func() error {
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "mcp-platform"}, platformCert); err != nil {
			return err
		}
		if got := platformCert.Spec.DNSNames; len(got) != 1 || got[0] != "ai.10x.in" {
			return fmt.Errorf("DNS names %v", got)
		}
		return nil
	})
}

// paths lists the path matches of a route's rules.
func paths(r *gatewayv1.HTTPRoute) string {
	var out []string
	for _, rule := range r.Spec.Rules {
		for _, m := range rule.Matches {
			out = append(out, fmt.Sprintf("%s %s", *m.Path.Type, *m.Path.Value))
		}
	}
	return strings.Join(out, ", ")
}

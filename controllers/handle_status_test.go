package controllers

import (
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

func testConfig(t *testing.T) *platform.Config {
	t.Helper()
	cfg, err := platform.Load("../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// routeWithParents returns the desired route with one parent status per
// parent reference carrying the given Accepted and ResolvedRefs statuses.
func routeWithParents(ac *gwapply.HTTPRouteApplyConfiguration, accepted, resolved metav1.ConditionStatus) *gatewayv1.HTTPRoute {
	obj, err := typedObject(ac)
	if err != nil {
		panic(err)
	}
	r := obj.(*gatewayv1.HTTPRoute)
	for _, ref := range r.Spec.ParentRefs {
		r.Status.Parents = append(r.Status.Parents, gatewayv1.RouteParentStatus{ParentRef: ref, Conditions: []metav1.Condition{
			{Type: "Accepted", Status: accepted, Reason: "Why" + string(accepted), Message: "accepted is " + string(accepted)},
			{Type: "ResolvedRefs", Status: resolved, Reason: "BackendNotFound", Message: "service mcp-runtime not found"},
		}})
	}
	return r
}

func cert(status cmmeta.ConditionStatus, reason string) *certmanagerv1.Certificate {
	return &certmanagerv1.Certificate{Status: certmanagerv1.CertificateStatus{Conditions: []certmanagerv1.CertificateCondition{
		{Type: certmanagerv1.CertificateConditionReady, Status: status, Reason: reason, Message: "cert says " + reason},
	}}}
}

func TestComputeHandleStatus(t *testing.T) {
	cfg := testConfig(t)
	ok := func() handleObservation {
		return handleObservation{
			hosted:          routeWithParents(hostedRoute(cfg, "acme"), metav1.ConditionTrue, metav1.ConditionTrue),
			compat:          routeWithParents(compatRoute(cfg, "acme"), metav1.ConditionTrue, metav1.ConditionTrue),
			certificate:     cert(cmmeta.ConditionTrue, "Ready"),
			certificateName: "mcp-system/mcp-platform",
		}
	}
	serving := metav1.Condition{Type: "Serving", Status: metav1.ConditionTrue, Reason: "Serving"}
	type want struct{ accepted, route, cert, ready string }
	cases := []struct {
		name      string
		obs       func() handleObservation
		suspended bool
		serving   *metav1.Condition
		want      want
	}{
		{"all good", ok, false, &serving, want{"True/Accepted", "True/Accepted", "True/Ready", "True/Ready"}},
		{"runtime silent", ok, false, nil, want{"True/Accepted", "True/Accepted", "True/Ready", "False/NotServing"}},
		{"runtime refuses", ok, false, &metav1.Condition{Type: "Serving", Status: metav1.ConditionFalse, Reason: "ToolsetUnreachable"}, want{"True/Accepted", "True/Accepted", "True/Ready", "False/ToolsetUnreachable"}},
		{"suspended", ok, true, &serving, want{"True/Accepted", "True/Accepted", "True/Ready", "False/Suspended"}},
		{"conflict", func() handleObservation {
			o := ok()
			o.conflict = &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "squatter"}}
			return o
		}, false, &serving, want{"False/HostnameConflict", "False/HostnameConflict", "True/Ready", "False/HostnameConflict"}},
		{"routes missing", func() handleObservation { o := ok(); o.compat = nil; return o }, false, &serving,
			want{"True/Accepted", "Unknown/RouteNotFound", "True/Ready", "False/RouteNotFound"}},
		{"gateway silent", func() handleObservation { o := ok(); o.hosted.Status.Parents = nil; return o }, false, &serving,
			want{"True/Accepted", "Unknown/Pending", "True/Ready", "False/Pending"}},
		{"route refused", func() handleObservation {
			o := ok()
			o.compat = routeWithParents(compatRoute(cfg, "acme"), metav1.ConditionFalse, metav1.ConditionTrue)
			return o
		}, false, &serving, want{"True/Accepted", "False/WhyFalse", "True/Ready", "False/WhyFalse"}},
		{"backend unresolved", func() handleObservation {
			o := ok()
			o.hosted = routeWithParents(hostedRoute(cfg, "acme"), metav1.ConditionTrue, metav1.ConditionFalse)
			return o
		}, false, &serving, want{"True/Accepted", "False/BackendNotFound", "True/Ready", "False/BackendNotFound"}},
		{"certificate missing", func() handleObservation { o := ok(); o.certificate = nil; return o }, false, &serving,
			want{"True/Accepted", "True/Accepted", "Unknown/Pending", "False/Pending"}},
		{"certificate failing", func() handleObservation { o := ok(); o.certificate = cert(cmmeta.ConditionFalse, "Failed"); return o }, false, &serving,
			want{"True/Accepted", "True/Accepted", "False/Failed", "False/Failed"}},
		{"certificate not reported", func() handleObservation { o := ok(); o.certificate = &certmanagerv1.Certificate{}; return o }, false, &serving,
			want{"True/Accepted", "True/Accepted", "Unknown/Pending", "False/Pending"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme", Generation: 3}, Spec: mcpv1alpha1.HandleSpec{Suspended: tc.suspended}}
			if tc.serving != nil {
				h.Status.Conditions = []metav1.Condition{*tc.serving}
			}
			st := computeHandleStatus(cfg, h, tc.obs())
			got := want{
				accepted: cond(st, "Accepted"), route: cond(st, "RouteAccepted"),
				cert: cond(st, "CertificateReady"), ready: cond(st, "Ready"),
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			for _, c := range st.Conditions {
				if c.ObservedGeneration != 3 || c.Message == "" {
					t.Errorf("%s: observedGeneration %d, message %q", c.Type, c.ObservedGeneration, c.Message)
				}
			}
			if meta.FindStatusCondition(st.Conditions, "Serving") != nil {
				t.Error("the operator's status includes the runtime's Serving condition")
			}
		})
	}
}

func TestComputeHandleStatusKeepsTransitionTimes(t *testing.T) {
	cfg := testConfig(t)
	h := &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme", Generation: 1}}
	first := computeHandleStatus(cfg, h, handleObservation{})
	old := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	for i := range first.Conditions {
		first.Conditions[i].LastTransitionTime = old
	}
	h.Status = first
	again := computeHandleStatus(cfg, h, handleObservation{})
	for _, c := range again.Conditions {
		if !c.LastTransitionTime.Equal(&old) {
			t.Errorf("%s: transition time moved without a transition", c.Type)
		}
	}
	if !sameHandleStatus(h.Status, again) {
		t.Error("an unchanged status compares as changed: every reconcile would write")
	}
}

func cond(st mcpv1alpha1.HandleStatus, t string) string {
	c := meta.FindStatusCondition(st.Conditions, t)
	if c == nil {
		return "<none>"
	}
	return string(c.Status) + "/" + c.Reason
}

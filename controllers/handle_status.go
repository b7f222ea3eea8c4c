package controllers

import (
	"fmt"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// handleObservation is what the reconciler saw of a handle's edge objects.
type handleObservation struct {
	// conflict is a route the operator does not own that claimed the
	// handle's hostname first.
	conflict *gatewayv1.HTTPRoute
	// hosted and compat are the handle's routes, nil when missing.
	hosted, compat *gatewayv1.HTTPRoute
	// certificate serves the hosted hostname: the handle's own in perHandle
	// mode, the platform's wildcard otherwise. Nil when missing.
	certificate *certmanagerv1.Certificate
	// certificateName is the namespace/name of the expected certificate.
	certificateName string
}

// stand records an object the reconciler has just created in place of its
// (not yet cached) observed version.
func (o *handleObservation) stand(obj client.Object) {
	switch v := obj.(type) {
	case *gatewayv1.HTTPRoute:
		if v.Labels[LabelComponent] == ComponentHosted {
			o.hosted = v
		} else {
			o.compat = v
		}
	case *certmanagerv1.Certificate:
		o.certificate = v
	}
}

// computeHandleStatus returns the status the operator reports: its four
// conditions (keeping transition times of unchanged ones), the endpoints and
// the observed generation.
func computeHandleStatus(cfg *platform.Config, h *mcpv1alpha1.Handle, obs handleObservation) mcpv1alpha1.HandleStatus {
	gen := h.Generation
	conds := []metav1.Condition{
		acceptedCondition(cfg, h, obs),
		routeCondition(obs),
		certificateCondition(obs),
	}
	conds = append(conds, readyCondition(cfg, h, conds, meta.FindStatusCondition(h.Status.Conditions, mcpv1alpha1.HandleConditionServing)))

	existing := append([]metav1.Condition(nil), h.Status.Conditions...)
	var out []metav1.Condition
	for _, c := range conds {
		c.ObservedGeneration = gen
		meta.SetStatusCondition(&existing, c)
		out = append(out, *meta.FindStatusCondition(existing, c.Type))
	}
	return mcpv1alpha1.HandleStatus{
		Conditions: out,
		Endpoints: &mcpv1alpha1.HandleEndpoints{
			Hosted:        cfg.HostedURL(h.Name),
			Gateway:       cfg.GatewayURL(),
			Compatibility: cfg.CompatibilityURL(h.Name),
		},
		ObservedGeneration: gen,
	}
}

func acceptedCondition(cfg *platform.Config, h *mcpv1alpha1.Handle, obs handleObservation) metav1.Condition {
	if r := obs.conflict; r != nil {
		return metav1.Condition{Type: mcpv1alpha1.HandleConditionAccepted, Status: metav1.ConditionFalse, Reason: mcpv1alpha1.HandleReasonHostnameConflict,
			Message: fmt.Sprintf("hostname %s is already claimed by HTTPRoute %s/%s, which mcp-handle-operator does not own; no route was written. Remove the hostname from that route or choose another handle name",
				cfg.HostedHost(h.Name), r.Namespace, r.Name)}
	}
	return metav1.Condition{Type: mcpv1alpha1.HandleConditionAccepted, Status: metav1.ConditionTrue, Reason: mcpv1alpha1.HandleReasonAccepted,
		Message: fmt.Sprintf("routes declared for %s and %s", cfg.HostedHost(h.Name), cfg.CompatibilityURL(h.Name))}
}

// routeCondition mirrors the Gateway implementation's parent status of the
// hosted route, then of the compatibility route: the first parent that has
// not accepted the route, or has unresolved references, decides.
func routeCondition(obs handleObservation) metav1.Condition {
	c := metav1.Condition{Type: mcpv1alpha1.HandleConditionRouteAccepted}
	if obs.conflict != nil {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, mcpv1alpha1.HandleReasonHostnameConflict, "no route was written: the hostname is claimed by another HTTPRoute"
		return c
	}
	for _, r := range []*gatewayv1.HTTPRoute{obs.hosted, obs.compat} {
		if r == nil {
			c.Status, c.Reason, c.Message = metav1.ConditionUnknown, mcpv1alpha1.HandleReasonRouteNotFound, "the handle's HTTPRoutes are being written"
			return c
		}
		if bad, ok := routeParentProblem(r); !ok {
			return bad
		}
	}
	c.Status, c.Reason = metav1.ConditionTrue, mcpv1alpha1.HandleReasonAccepted
	c.Message = fmt.Sprintf("HTTPRoutes %s and %s accepted with resolved references by every parent", obs.hosted.Name, obs.compat.Name)
	return c
}

// routeParentProblem returns a condition describing the first parent of r
// that has not accepted it (ok false), or ok true when all have.
func routeParentProblem(r *gatewayv1.HTTPRoute) (metav1.Condition, bool) {
	c := metav1.Condition{Type: mcpv1alpha1.HandleConditionRouteAccepted}
	for _, ref := range r.Spec.ParentRefs {
		ps := findParentStatus(r, ref)
		name := parentName(r, ref)
		if ps == nil {
			c.Status, c.Reason = metav1.ConditionUnknown, mcpv1alpha1.HandleReasonPending
			c.Message = fmt.Sprintf("waiting for the Gateway implementation to report on HTTPRoute %s/%s for %s", r.Namespace, r.Name, name)
			return c, false
		}
		for _, t := range []string{string(gatewayv1.RouteConditionAccepted), string(gatewayv1.RouteConditionResolvedRefs)} {
			pc := meta.FindStatusCondition(ps.Conditions, t)
			switch {
			case pc == nil:
				c.Status, c.Reason = metav1.ConditionUnknown, mcpv1alpha1.HandleReasonPending
				c.Message = fmt.Sprintf("HTTPRoute %s/%s on %s: no %s condition yet", r.Namespace, r.Name, name, t)
				return c, false
			case pc.Status != metav1.ConditionTrue:
				c.Status, c.Reason = pc.Status, pc.Reason
				c.Message = fmt.Sprintf("HTTPRoute %s/%s on %s: %s: %s", r.Namespace, r.Name, name, t, pc.Message)
				return c, false
			}
		}
	}
	return c, true
}

func findParentStatus(r *gatewayv1.HTTPRoute, ref gatewayv1.ParentReference) *gatewayv1.RouteParentStatus {
	for i := range r.Status.Parents {
		if sameParent(r.Namespace, r.Status.Parents[i].ParentRef, ref) {
			return &r.Status.Parents[i]
		}
	}
	return nil
}

func sameParent(routeNS string, a, b gatewayv1.ParentReference) bool {
	ns := func(p gatewayv1.ParentReference) string {
		if p.Namespace != nil {
			return string(*p.Namespace)
		}
		return routeNS
	}
	str := func(s *gatewayv1.SectionName) string {
		if s == nil {
			return ""
		}
		return string(*s)
	}
	kind := func(k *gatewayv1.Kind) string {
		if k == nil {
			return "Gateway"
		}
		return string(*k)
	}
	return a.Name == b.Name && ns(a) == ns(b) && str(a.SectionName) == str(b.SectionName) && kind(a.Kind) == kind(b.Kind)
}

func parentName(r *gatewayv1.HTTPRoute, ref gatewayv1.ParentReference) string {
	kind := "Gateway"
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	ns := r.Namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	return fmt.Sprintf("%s %s/%s", kind, ns, ref.Name)
}

// certificateCondition mirrors cert-manager's Ready condition.
func certificateCondition(obs handleObservation) metav1.Condition {
	c := metav1.Condition{Type: mcpv1alpha1.HandleConditionCertificateReady}
	if obs.certificate == nil {
		c.Status, c.Reason = metav1.ConditionUnknown, mcpv1alpha1.HandleReasonPending
		c.Message = fmt.Sprintf("Certificate %s does not exist yet", obs.certificateName)
		if obs.conflict != nil {
			c.Reason = mcpv1alpha1.HandleReasonHostnameConflict
		}
		return c
	}
	for _, cc := range obs.certificate.Status.Conditions {
		if cc.Type == certmanagerv1.CertificateConditionReady {
			c.Status, c.Reason = metav1.ConditionStatus(cc.Status), cc.Reason
			c.Message = fmt.Sprintf("Certificate %s: %s", obs.certificateName, cc.Message)
			if c.Reason == "" {
				c.Reason = mcpv1alpha1.HandleReasonPending
			}
			return c
		}
	}
	c.Status, c.Reason = metav1.ConditionUnknown, mcpv1alpha1.HandleReasonPending
	c.Message = fmt.Sprintf("waiting for cert-manager to issue Certificate %s", obs.certificateName)
	return c
}

// readyCondition summarises: suspended handles are not ready; otherwise the
// first condition that is not True decides, and the runtime's Serving comes
// last.
func readyCondition(cfg *platform.Config, h *mcpv1alpha1.Handle, conds []metav1.Condition, serving *metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: mcpv1alpha1.HandleConditionReady, Status: metav1.ConditionFalse}
	if h.Spec.Suspended {
		c.Reason, c.Message = mcpv1alpha1.HandleReasonSuspended, "the handle is suspended: its endpoints answer 403 handle_suspended"
		return c
	}
	for _, cc := range conds {
		if cc.Status != metav1.ConditionTrue {
			c.Reason, c.Message = cc.Reason, cc.Type+": "+cc.Message
			return c
		}
	}
	switch {
	case serving == nil:
		c.Reason, c.Message = mcpv1alpha1.HandleReasonNotServing, "no runtime has reported serving this handle yet"
	case serving.Status != metav1.ConditionTrue:
		c.Reason, c.Message = serving.Reason, "Serving: "+serving.Message
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, mcpv1alpha1.HandleReasonReady, "served at "+cfg.HostedURL(h.Name)
	}
	return c
}

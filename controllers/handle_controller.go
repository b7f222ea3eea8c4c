package controllers

import (
	"context"
	"fmt"
	"strings"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	mcpapply "github.com/10xdotin/mcp-handle-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/ssa"
)

// hostnameIndex indexes HTTPRoutes by their lower-cased hostnames, to find a
// route of someone else claiming a handle's hostname.
const hostnameIndex = "spec.hostnames"

// HandleReconciler writes each Handle's HTTPRoutes (and, in perHandle TLS
// mode, its Certificate and ListenerSet) and reports what the Gateway
// implementation and cert-manager made of them.
type HandleReconciler struct {
	client.Client
	Config   *platform.Config
	Recorder events.EventRecorder
	owned    applier
}

// +kubebuilder:rbac:groups=mcp.10x.in,resources=handles,verbs=get;list;watch
// +kubebuilder:rbac:groups=mcp.10x.in,resources=handles/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;listenersets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one handle's edge objects and status up to date.
func (r *HandleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	h := &mcpv1alpha1.Handle{}
	if err := r.Get(ctx, req.NamespacedName, h); err != nil {
		if apierrors.IsNotFound(err) {
			r.owned.forget(handleApplies(r.Config, &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: req.Name}}))
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !h.DeletionTimestamp.IsZero() {
		// Owner references let the garbage collector delete the children.
		r.owned.forget(handleApplies(r.Config, h))
		return ctrl.Result{}, nil
	}
	obs, err := r.observe(ctx, h)
	if err != nil {
		return ctrl.Result{}, err
	}
	if obs.conflict != nil {
		err = r.removeEdge(ctx, h, &obs)
	} else {
		err = r.applyEdge(ctx, h, &obs)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.updateStatus(ctx, h, obs)
}

// observe reads the handle's routes and certificate, and any route the
// operator does not own that claimed the hosted hostname first, from the
// cache.
func (r *HandleReconciler) observe(ctx context.Context, h *mcpv1alpha1.Handle) (handleObservation, error) {
	var obs handleObservation
	ns := r.Config.Namespace
	var err error
	if obs.hosted, err = getCached[gatewayv1.HTTPRoute](ctx, r.Client, ns, hostedRouteName(h.Name)); err != nil {
		return obs, err
	}
	if obs.compat, err = getCached[gatewayv1.HTTPRoute](ctx, r.Client, ns, compatRouteName(h.Name)); err != nil {
		return obs, err
	}
	certName := platformCertName
	if r.Config.TLS.Mode == platform.TLSModePerHandle {
		certName = handleCertName(h.Name)
	}
	obs.certificateName = ns + "/" + certName
	if obs.certificate, err = getCached[certmanagerv1.Certificate](ctx, r.Client, ns, certName); err != nil {
		return obs, err
	}

	host := r.Config.HostedHost(h.Name)
	var routes gatewayv1.HTTPRouteList
	if err := r.List(ctx, &routes, client.MatchingFields{hostnameIndex: host}); err != nil {
		return obs, fmt.Errorf("failed to list HTTPRoutes for hostname %s: %w", host, err)
	}
	for i := range routes.Items {
		other := &routes.Items[i]
		if isOwnedBy(other, h) {
			continue
		}
		// A route that came after the handle's own does not take the
		// hostname away: the Gateway gives it to the older route too.
		if obs.hosted != nil && isOwnedBy(obs.hosted, h) && claimsFirst(obs.hosted, other) {
			continue
		}
		if obs.conflict == nil || claimsFirst(other, obs.conflict) {
			obs.conflict = other
		}
	}
	return obs, nil
}

// applyEdge applies every desired object (unless unchanged since its last
// apply), records one event naming what it created or repaired, and removes
// per-handle TLS objects left from a previous TLS mode. Objects missing from
// the cache are stood in for by the apply's answer, so the status written
// next says they are pending rather than missing.
func (r *HandleReconciler) applyEdge(ctx context.Context, h *mcpv1alpha1.Handle, obs *handleObservation) error {
	var created, repaired []string
	for _, desired := range handleApplies(r.Config, h) {
		existing, err := getCachedObject(ctx, r.Client, desired)
		if err != nil {
			return err
		}
		name := *desired.GetKind() + " " + *desired.GetNamespace() + "/" + *desired.GetName()
		applied, changed, err := r.owned.apply(ctx, r.Client, desired, existing)
		if err != nil {
			return err
		}
		if existing == nil && applied != nil {
			obs.stand(applied)
		}
		switch {
		case changed && existing == nil:
			created = append(created, name)
		case changed:
			repaired = append(repaired, name)
		}
	}
	if len(created) > 0 {
		r.Recorder.Eventf(h, nil, corev1.EventTypeNormal, "Created", "Apply", "created %s", strings.Join(created, ", "))
	}
	if len(repaired) > 0 {
		r.Recorder.Eventf(h, nil, corev1.EventTypeNormal, "Repaired", "Apply", "reverted changes to %s", strings.Join(repaired, ", "))
	}
	if r.Config.TLS.Mode == platform.TLSModeWildcard {
		return r.deleteOwned(ctx, h, &certmanagerv1.Certificate{}, handleCertName(h.Name), &gatewayv1.ListenerSet{}, listenerSetName(h.Name))
	}
	return nil
}

// removeEdge deletes what the handle owns at the edge: its hostname belongs
// to someone else.
func (r *HandleReconciler) removeEdge(ctx context.Context, h *mcpv1alpha1.Handle, obs *handleObservation) error {
	obs.hosted, obs.compat = nil, nil
	if r.Config.TLS.Mode == platform.TLSModePerHandle {
		obs.certificate = nil
	}
	return r.deleteOwned(ctx, h,
		&gatewayv1.HTTPRoute{}, hostedRouteName(h.Name),
		&gatewayv1.HTTPRoute{}, compatRouteName(h.Name),
		&certmanagerv1.Certificate{}, handleCertName(h.Name),
		&gatewayv1.ListenerSet{}, listenerSetName(h.Name))
}

// deleteOwned takes (empty object, name) pairs and deletes each object the
// cache holds that h controls. Objects of a kind whose CRD is not installed
// (ListenerSet without perHandle TLS) are skipped.
func (r *HandleReconciler) deleteOwned(ctx context.Context, h *mcpv1alpha1.Handle, pairs ...any) error {
	for i := 0; i < len(pairs); i += 2 {
		obj, name := pairs[i].(client.Object), pairs[i+1].(string)
		err := r.Get(ctx, types.NamespacedName{Namespace: r.Config.Namespace, Name: name}, obj)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) || isNotWatched(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("failed to read %s/%s: %w", r.Config.Namespace, name, err)
		}
		if !isOwnedBy(obj, h) {
			continue
		}
		if err := deleteIfExists(ctx, r.Client, obj); err != nil {
			return err
		}
	}
	return nil
}

// updateStatus applies the operator's part of the status when it changed,
// and records events for transitions of Accepted and Ready.
func (r *HandleReconciler) updateStatus(ctx context.Context, h *mcpv1alpha1.Handle, obs handleObservation) error {
	want := computeHandleStatus(r.Config, h, obs)
	if sameHandleStatus(h.Status, want) {
		return nil
	}
	for _, t := range []string{mcpv1alpha1.HandleConditionAccepted, mcpv1alpha1.HandleConditionReady} {
		before, after := meta.FindStatusCondition(h.Status.Conditions, t), meta.FindStatusCondition(want.Conditions, t)
		if before != nil && before.Status == after.Status && before.Reason == after.Reason {
			continue
		}
		r.Recorder.Eventf(h, nil, eventType(*after), after.Reason, "Reconcile", "%s=%s: %s", t, after.Status, after.Message)
	}
	status := mcpapply.HandleStatus().
		WithConditions(ssa.Conditions(want.Conditions...)...).
		WithObservedGeneration(want.ObservedGeneration)
	if e := want.Endpoints; e != nil {
		status.WithEndpoints(mcpapply.HandleEndpoints().WithHosted(e.Hosted).WithGateway(e.Gateway).WithCompatibility(e.Compatibility))
	}
	return ssa.ApplyStatus(ctx, r.Client, mcpapply.Handle(h.Name).WithStatus(status), FieldOwner)
}

// sameHandleStatus compares the parts of the status the operator owns.
func sameHandleStatus(have, want mcpv1alpha1.HandleStatus) bool {
	if have.ObservedGeneration != want.ObservedGeneration || !equality.Semantic.DeepEqual(have.Endpoints, want.Endpoints) {
		return false
	}
	for _, w := range want.Conditions {
		c := meta.FindStatusCondition(have.Conditions, w.Type)
		if c == nil || !equality.Semantic.DeepEqual(*c, w) {
			return false
		}
	}
	return true
}

// SetupWithManager registers the reconciler: it watches Handles, the objects
// they own, other HTTPRoutes that may claim a handle's hostname and, in
// wildcard TLS mode, the platform Certificate.
func (r *HandleReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &gatewayv1.HTTPRoute{}, hostnameIndex, func(o client.Object) []string {
		route := o.(*gatewayv1.HTTPRoute)
		hosts := make([]string, 0, len(route.Spec.Hostnames))
		for _, h := range route.Spec.Hostnames {
			hosts = append(hosts, strings.ToLower(string(h)))
		}
		return hosts
	}); err != nil {
		return fmt.Errorf("failed to index HTTPRoutes by hostname: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("handle").
		For(&mcpv1alpha1.Handle{}).
		Owns(&gatewayv1.HTTPRoute{}).
		Owns(&certmanagerv1.Certificate{}).
		Watches(&gatewayv1.HTTPRoute{}, handler.EnqueueRequestsFromMapFunc(r.handlesClaimedBy))
	if r.Config.TLS.Mode == platform.TLSModePerHandle {
		b = b.Owns(&gatewayv1.ListenerSet{})
	} else {
		b = b.Watches(&certmanagerv1.Certificate{}, handler.EnqueueRequestsFromMapFunc(r.handlesServedBy))
	}
	return b.Complete(r)
}

// handlesClaimedBy maps any HTTPRoute to the handles whose hosted hostname
// it names, so a foreign route appearing or going away is noticed.
func (r *HandleReconciler) handlesClaimedBy(_ context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	suffix := "." + r.Config.MCPDomain
	for _, host := range o.(*gatewayv1.HTTPRoute).Spec.Hostnames {
		label, ok := strings.CutSuffix(strings.ToLower(string(host)), suffix)
		if ok && label != "" && !strings.ContainsAny(label, ".*") {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: label}})
		}
	}
	return reqs
}

// handlesServedBy maps the platform wildcard Certificate to every handle.
func (r *HandleReconciler) handlesServedBy(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetNamespace() != r.Config.Namespace || o.GetName() != platformCertName {
		return nil
	}
	var handles mcpv1alpha1.HandleList
	if err := r.List(ctx, &handles); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "failed to list handles for the platform certificate")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(handles.Items))
	for _, h := range handles.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: h.Name}})
	}
	return reqs
}

// isOwnedBy reports whether owner controls obj.
func isOwnedBy(obj, owner client.Object) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == owner.GetUID()
}

// claimsFirst reports whether route a claimed its hostname before b: the
// older route wins and ties go to the alphabetically first namespace/name,
// the precedence Gateway API gives conflicting routes.
func claimsFirst(a, b client.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return a.GetNamespace()+"/"+a.GetName() < b.GetNamespace()+"/"+b.GetName()
}

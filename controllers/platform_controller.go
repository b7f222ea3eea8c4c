package controllers

import (
	"context"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// PlatformReconciler writes the gateway host's HTTPRoute and the platform
// Certificate, which come from the platform configuration rather than from
// an object: it runs once at start and again whenever one of them is edited
// or deleted.
type PlatformReconciler struct {
	client.Client
	Config *platform.Config
	owned  applier
}

// platformRequest is the one request the reconciler handles.
var platformRequest = reconcile.Request{NamespacedName: types.NamespacedName{Name: "platform"}}

// Reconcile applies the platform objects.
func (r *PlatformReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	for _, desired := range platformApplies(r.Config) {
		existing, err := getCachedObject(ctx, r.Client, desired)
		if err != nil {
			return ctrl.Result{}, err
		}
		if _, _, err := r.owned.apply(ctx, r.Client, desired, existing); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler with a start-up trigger and
// watches on the platform-labelled objects.
func (r *PlatformReconciler) SetupWithManager(mgr ctrl.Manager) error {
	start := make(chan event.GenericEvent, 1)
	start <- event.GenericEvent{Object: &metav1.PartialObjectMetadata{}}
	toPlatform := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{platformRequest}
	})
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.Config.Namespace && o.GetLabels()[LabelComponent] == ComponentPlatform
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("platform").
		WatchesRawSource(source.Channel(start, toPlatform)).
		Watches(&gatewayv1.HTTPRoute{}, toPlatform, builder.WithPredicates(ours)).
		Watches(&certmanagerv1.Certificate{}, toPlatform, builder.WithPredicates(ours)).
		Complete(r)
}

package controllers

import (
	"context"
	"fmt"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
)

// NewManager builds the manager with every reconciler. The cache holds
// Secrets, Certificates and ListenerSets of the platform namespace only, and
// HTTPRoutes of every namespace (to find routes that claim a handle's
// hostname).
func NewManager(ctx context.Context, restConfig *rest.Config, cfg *platform.Config, opts ctrl.Options) (manager.Manager, error) {
	opts.Scheme = scheme.New()
	inNamespace := cache.ByObject{Namespaces: map[string]cache.Config{cfg.Namespace: {}}}
	// managedFields are a third to half of each cached object and the
	// operator never reads them.
	opts.Cache.DefaultTransform = cache.TransformStripManagedFields()
	opts.Cache.ByObject = map[client.Object]cache.ByObject{
		&corev1.Secret{}:             inNamespace,
		&certmanagerv1.Certificate{}: inNamespace,
		&gatewayv1.ListenerSet{}:     inNamespace,
	}
	mgr, err := ctrl.NewManager(restConfig, opts)
	if err != nil {
		return nil, fmt.Errorf("failed to create the manager: %w", err)
	}
	recorder := mgr.GetEventRecorder(FieldOwner)
	if err := (&HandleReconciler{Client: mgr.GetClient(), Config: cfg, Recorder: recorder}).SetupWithManager(ctx, mgr); err != nil {
		return nil, err
	}
	if err := (&OAuthClientReconciler{Client: mgr.GetClient(), Config: cfg, Recorder: recorder}).SetupWithManager(ctx, mgr); err != nil {
		return nil, err
	}
	if err := (&PlatformReconciler{Client: mgr.GetClient(), Config: cfg}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("failed to add the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("failed to add the readiness check: %w", err)
	}
	return mgr, nil
}

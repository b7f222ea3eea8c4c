package controllers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	mcpapply "github.com/10xdotin/mcp-handle-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/ssa"
)

// oauthClientHandleIndex indexes OAuthClients by the handle they are bound to.
const oauthClientHandleIndex = "spec.handle"

// OAuthClientReconciler assigns each OAuthClient its client id, keeps the
// secret of confidential clients in a Secret it owns, and reports whether the
// bound handle exists and offers the client's scopes.
type OAuthClientReconciler struct {
	client.Client
	Config   *platform.Config
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=mcp.10x.in,resources=oauthclients,verbs=get;list;watch
// +kubebuilder:rbac:groups=mcp.10x.in,resources=oauthclients/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;delete

// Reconcile brings one client's secret and status up to date.
func (r *OAuthClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := &mcpv1alpha1.OAuthClient{}
	if err := r.Get(ctx, req.NamespacedName, c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !c.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	var obs oauthClientObservation
	if err := r.reconcileSecret(ctx, c, &obs); err != nil {
		return ctrl.Result{}, err
	}
	if c.Spec.Handle != "" {
		h, err := getCached[mcpv1alpha1.Handle](ctx, r.Client, "", c.Spec.Handle)
		if err != nil {
			return ctrl.Result{}, err
		}
		obs.handle = h
	}
	return ctrl.Result{}, r.updateStatus(ctx, c, computeOAuthClientStatus(r.Config, c, obs))
}

// clientSecret returns the Secret of a confidential client, owned by it,
// without its generated value.
func clientSecret(cfg *platform.Config, s *runtime.Scheme, c *mcpv1alpha1.OAuthClient) (*corev1.Secret, error) {
	secret := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: c.SecretName(), Namespace: cfg.Namespace, Labels: map[string]string{
			LabelManagedBy: LabelManagedByValue, LabelOAuthClient: c.Name,
		}},
		Type: corev1.SecretTypeOpaque,
	}
	if err := controllerutil.SetControllerReference(c, secret, s); err != nil {
		return nil, fmt.Errorf("failed to set the owner of Secret %s: %w", secret.Name, err)
	}
	return secret, nil
}

// reconcileSecret creates the client secret of a confidential client once
// (it is never regenerated while the Secret exists; deleting the Secret
// rotates it) and deletes it when the client becomes public.
func (r *OAuthClientReconciler) reconcileSecret(ctx context.Context, c *mcpv1alpha1.OAuthClient, obs *oauthClientObservation) error {
	name := c.SecretName()
	existing, err := getCached[corev1.Secret](ctx, r.Client, r.Config.Namespace, name)
	if err != nil {
		return err
	}
	if existing != nil && !isOwnedBy(existing, c) {
		if c.Confidential() {
			obs.secretConflict = r.Config.Namespace + "/" + name
		}
		return nil
	}
	if !c.Confidential() {
		if existing != nil {
			return deleteIfExists(ctx, r.Client, existing)
		}
		return nil
	}
	obs.secret = r.Config.Namespace + "/" + name
	if existing != nil {
		return nil
	}
	secret, err := clientSecret(r.Config, r.Scheme(), c)
	if err != nil {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("failed to generate a client secret: %w", err)
	}
	secret.Data = map[string][]byte{mcpv1alpha1.ClientSecretKey: []byte(base64.RawURLEncoding.EncodeToString(raw))}
	if err := r.Create(ctx, secret); err != nil {
		return fmt.Errorf("failed to create Secret %s/%s: %w", r.Config.Namespace, name, err)
	}
	r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "SecretCreated", "Reconcile", "generated the client secret into Secret %s/%s", r.Config.Namespace, name)
	return nil
}

// updateStatus applies the status when it changed and records an event when
// Ready changes.
func (r *OAuthClientReconciler) updateStatus(ctx context.Context, c *mcpv1alpha1.OAuthClient, want mcpv1alpha1.OAuthClientStatus) error {
	if equality.Semantic.DeepEqual(c.Status, want) {
		return nil
	}
	before := meta.FindStatusCondition(c.Status.Conditions, mcpv1alpha1.OAuthClientConditionReady)
	after := want.Conditions[0]
	if before == nil || before.Status != after.Status || before.Reason != after.Reason {
		r.Recorder.Eventf(c, nil, eventType(after), after.Reason, "Reconcile", "%s", after.Message)
	}
	status := mcpapply.OAuthClientStatus().
		WithConditions(ssa.Conditions(want.Conditions...)...).
		WithObservedGeneration(want.ObservedGeneration)
	if want.ClientID != "" {
		status.WithClientID(want.ClientID)
	}
	if ref := want.SecretRef; ref != nil {
		status.WithSecretRef(mcpapply.SecretReference().WithName(ref.Name).WithNamespace(ref.Namespace))
	}
	return ssa.ApplyStatus(ctx, r.Client, mcpapply.OAuthClient(c.Name).WithStatus(status), FieldOwner)
}

// SetupWithManager registers the reconciler: it watches OAuthClients, their
// Secrets and the Handles they are bound to.
func (r *OAuthClientReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &mcpv1alpha1.OAuthClient{}, oauthClientHandleIndex, func(o client.Object) []string {
		if h := o.(*mcpv1alpha1.OAuthClient).Spec.Handle; h != "" {
			return []string{h}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("failed to index OAuthClients by handle: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("oauthclient").
		For(&mcpv1alpha1.OAuthClient{}).
		Owns(&corev1.Secret{}).
		Watches(&mcpv1alpha1.Handle{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfHandle)).
		Complete(r)
}

// clientsOfHandle maps a Handle to the OAuthClients bound to it.
func (r *OAuthClientReconciler) clientsOfHandle(ctx context.Context, o client.Object) []reconcile.Request {
	var clients mcpv1alpha1.OAuthClientList
	if err := r.List(ctx, &clients, client.MatchingFields{oauthClientHandleIndex: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "failed to list the clients of a handle", "handle", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(clients.Items))
	for _, c := range clients.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: c.Name}})
	}
	return reqs
}

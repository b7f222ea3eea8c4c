package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// applyOwned server-side applies desired, controlled by owner (nil for the
// platform's own objects), unless the cached existing object already carries
// everything desired says, so a steady state costs no writes. A hand edit of
// a field the operator sets makes the object differ, and the apply with
// forced ownership reverts it.
func applyOwned(ctx context.Context, c client.Client, owner client.Object, desired, existing client.Object) (changed bool, err error) {
	if owner != nil {
		if err := controllerutil.SetControllerReference(owner, desired, c.Scheme()); err != nil {
			return false, fmt.Errorf("failed to set the owner of %s: %w", desired.GetName(), err)
		}
	}
	want, err := toUnstructured(desired)
	if err != nil {
		return false, err
	}
	if existing != nil && upToDate(want, existing, owner) {
		return false, nil
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(want), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("failed to apply %s %s/%s: %w", want.GetKind(), want.GetNamespace(), want.GetName(), err)
	}
	return true, nil
}

// toUnstructured converts a typed object for server-side apply, without the
// status (which belongs to other controllers) or empty metadata.
func toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("failed to convert %s: %w", obj.GetName(), err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// upToDate reports whether existing has the desired labels, the controller
// owner reference and a spec that agrees with every field desired sets.
func upToDate(want *unstructured.Unstructured, existing, owner client.Object) bool {
	for k, v := range want.GetLabels() {
		if existing.GetLabels()[k] != v {
			return false
		}
	}
	if owner != nil {
		if ref := metav1.GetControllerOf(existing); ref == nil || ref.UID != owner.GetUID() {
			return false
		}
	}
	have, err := runtime.DefaultUnstructuredConverter.ToUnstructured(existing)
	if err != nil {
		return false
	}
	return equality.Semantic.DeepDerivative(want.Object["spec"], have["spec"]) && sameListLengths(want.Object["spec"], have["spec"])
}

// sameListLengths reports whether every non-empty list of want has as many
// items in have. DeepDerivative compares only the items want has, so a hand
// edit that appends one (a second hostname, another rule) would stay; the
// apiserver's defaulting never adds items to the lists the operator sets.
func sameListLengths(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, _ := have.(map[string]any)
		for k, v := range w {
			if !sameListLengths(v, h[k]) {
				return false
			}
		}
	case []any:
		h, _ := have.([]any)
		if len(w) > 0 && len(h) != len(w) {
			return false
		}
		for i := range min(len(w), len(h)) {
			if !sameListLengths(w[i], h[i]) {
				return false
			}
		}
	}
	return true
}

// deleteIfExists deletes obj, treating not-found as success.
func deleteIfExists(ctx context.Context, c client.Client, obj client.Object) error {
	if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// applyStatus server-side applies the status subresource of a cluster-scoped
// object of this API group: only the fields in status, owned by the operator.
func applyStatus(ctx context.Context, c client.Client, kind, name string, status any) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(status)
	if err != nil {
		return fmt.Errorf("failed to convert the status of %s %s: %w", kind, name, err)
	}
	patch := &unstructured.Unstructured{Object: map[string]any{"status": m}}
	patch.SetGroupVersionKind(mcpv1alpha1.GroupVersion.WithKind(kind))
	patch.SetName(name)
	if err := c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(patch), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("failed to update the status of %s %s: %w", kind, name, err)
	}
	return nil
}

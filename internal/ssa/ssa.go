// Package ssa holds the server-side apply of status that the operator and
// the runtime share.
package ssa

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metav1apply "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StatusApply is a typed apply configuration whose status is to be applied
// (api/v1alpha1/applyconfiguration).
type StatusApply interface {
	runtime.ApplyConfiguration
	GetKind() *string
	GetName() *string
}

// ApplyStatus server-side applies the status subresource of ac under
// fieldOwner, forcing ownership of the fields it names: each writer (the
// operator, the runtime) owns its own conditions and fields, and fields it
// no longer names are removed.
func ApplyStatus(ctx context.Context, c client.Client, ac StatusApply, fieldOwner string) error {
	if err := c.Status().Apply(ctx, ac, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("failed to apply the status of %s %s: %w", deref(ac.GetKind()), deref(ac.GetName()), err)
	}
	return nil
}

// Conditions converts conditions into their apply configurations.
func Conditions(cs ...metav1.Condition) []*metav1apply.ConditionApplyConfiguration {
	out := make([]*metav1apply.ConditionApplyConfiguration, 0, len(cs))
	for _, c := range cs {
		out = append(out, metav1apply.Condition().
			WithType(c.Type).WithStatus(c.Status).
			WithObservedGeneration(c.ObservedGeneration).
			WithLastTransitionTime(c.LastTransitionTime).
			WithReason(c.Reason).WithMessage(c.Message))
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

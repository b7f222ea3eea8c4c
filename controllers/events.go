package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// eventType is the type of the event recorded when a condition changes: a
// problem someone must fix is a Warning; waiting (for the Gateway,
// cert-manager or the runtime) and chosen states are Normal. The severity of
// each reason is declared with it in api/v1alpha1.
func eventType(c metav1.Condition) string {
	if mcpv1alpha1.Warning(c) {
		return corev1.EventTypeWarning
	}
	return corev1.EventTypeNormal
}

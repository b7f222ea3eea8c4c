// Package controllers holds the operator's reconcilers, one per kind, and the
// pure functions that compute what each one writes (shared with
// `mcpctl render`) and the status it reports.
package controllers

import mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"

// FieldOwner is the server-side apply field manager of every write of the
// operator.
const FieldOwner = "mcp-handle-operator"

// Labels on every object the operator writes (names in api/v1alpha1, which
// the runtime shares).
const (
	LabelManagedBy      = mcpv1alpha1.LabelManagedBy
	LabelManagedByValue = mcpv1alpha1.LabelManagedByValue
	LabelHandle         = mcpv1alpha1.LabelHandle
	LabelComponent      = mcpv1alpha1.LabelComponent
	LabelOAuthClient    = mcpv1alpha1.LabelOAuthClient
)

// Component label values.
const (
	ComponentHosted        = "hosted"
	ComponentCompatibility = "compatibility"
	ComponentCertificate   = "certificate"
	ComponentListener      = "listener"
	ComponentPlatform      = "platform"
)

func labels(component, handle string) map[string]string {
	l := map[string]string{LabelManagedBy: LabelManagedByValue, LabelComponent: component}
	if handle != "" {
		l[LabelHandle] = handle
	}
	return l
}

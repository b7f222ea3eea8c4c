// Package controllers holds the operator's reconcilers, one per kind, and the
// pure functions that compute what each one writes (shared with
// `mcpctl render`) and the status it reports.
package controllers

// FieldOwner is the server-side apply field manager of every write of the
// operator.
const FieldOwner = "mcp-handle-operator"

// Labels on every object the operator writes.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	LabelManagedByValue = "mcp-handle-operator"
	// LabelHandle names the handle an object serves.
	LabelHandle = "mcp.10x.in/handle"
	// LabelComponent says which part of the edge an object is: hosted,
	// compatibility, certificate, listener or platform.
	LabelComponent = "mcp.10x.in/component"
	// LabelOAuthClient names the OAuthClient a Secret belongs to.
	LabelOAuthClient = "mcp.10x.in/oauthclient"
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

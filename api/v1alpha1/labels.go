package v1alpha1

// Labels on the objects the operator and the runtime write, shared so both
// write the same names.
const (
	// LabelManagedBy marks objects this project writes; its value is
	// LabelManagedByValue.
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	LabelManagedByValue = "mcp-handle-operator"
	// LabelHandle names the handle an object serves (routes, certificates,
	// grants).
	LabelHandle = "mcp.10x.in/handle"
	// LabelComponent says which part of the edge an object is: hosted,
	// compatibility, certificate, listener or platform.
	LabelComponent = "mcp.10x.in/component"
	// LabelOAuthClient names the OAuthClient a Secret belongs to.
	LabelOAuthClient = "mcp.10x.in/oauthclient"
)

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReservedHandleNames are names a Handle may not take because the platform
// uses them as hostnames of its own. The Handle CRD's CEL rule lists the same
// names; a test checks that the apiserver refuses every one of them.
var ReservedHandleNames = []string{"www", "ai", "app", "api", "mcp", "auth", "login", "admin", "static", "status"}

// HandleSpec declares a tenant's hosted MCP endpoint.
//
// +kubebuilder:validation:XValidation:rule="!has(self.scopes) || !has(self.members) || self.members.all(m, !has(m.scopes) || m.scopes.all(s, s in self.scopes))",message="members[].scopes must be a subset of spec.scopes"
type HandleSpec struct {
	// displayName is the name shown to people on the consent, handle-picker and
	// MCP & Tools pages. Defaults to the handle's name when empty.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// members are the users and groups who may authorize connectors for this
	// handle, each optionally limited to a subset of the handle's scopes.
	// A handle without members can be served but no one can approve a connector.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:XValidation:rule="self.all(m, !has(m.user) || self.exists_one(o, has(o.user) && o.user == m.user))",message="each user may be listed once"
	// +kubebuilder:validation:XValidation:rule="self.all(m, !has(m.group) || self.exists_one(o, has(o.group) && o.group == m.group))",message="each group may be listed once"
	Members []HandleMember `json:"members,omitempty"`

	// scopes are the OAuth scopes this handle offers to connectors. When
	// omitted, the handle offers the guide's full scope catalogue.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="'mcp.connect' in self",message="scopes must include mcp.connect: without it no client can open an MCP session"
	Scopes []Scope `json:"scopes,omitempty"`

	// toolsets are the Toolsets whose tools this handle exposes. A handle's
	// tools are the union of its toolsets' tools.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Toolsets []ToolsetReference `json:"toolsets,omitempty"`

	// suspended stops the runtime from serving the handle: its MCP endpoint
	// answers 403 handle_suspended and no connector can be authorized. Routes,
	// certificates, clients and grants are kept, so resuming is instant.
	// +optional
	Suspended bool `json:"suspended,omitempty"`

	// rateLimit overrides the platform configuration's limits on this
	// handle's MCP endpoint (rateLimits.mcpPerGrant and mcpPerHandle). Each
	// runtime replica keeps its own buckets, so a fleet of N replicas admits
	// up to N times these rates.
	// +optional
	RateLimit *HandleRateLimit `json:"rateLimit,omitempty"`
}

// HandleRateLimit overrides the MCP endpoint's limits for one handle; an
// omitted limit keeps the platform's.
//
// +kubebuilder:validation:MinProperties=1
type HandleRateLimit struct {
	// perGrant limits the requests of each grant (one user's connector).
	// +optional
	PerGrant *RequestRate `json:"perGrant,omitempty"`
	// perHandle limits the requests to the handle, all grants together.
	// +optional
	PerHandle *RequestRate `json:"perHandle,omitempty"`
}

// RequestRate is a token bucket: a sustained rate and a burst above it.
//
// +kubebuilder:validation:XValidation:rule="!has(self.burst) || self.requestsPerMinute > 0",message="burst needs a requestsPerMinute above 0"
type RequestRate struct {
	// requestsPerMinute is the sustained rate; 0 removes the limit.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	RequestsPerMinute *int32 `json:"requestsPerMinute,omitempty"`
	// burst is how many requests may come at once. Defaults to
	// requestsPerMinute.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Burst int32 `json:"burst,omitempty"`
}

// HandleMember is a user or a group allowed to authorize connectors.
//
// +kubebuilder:validation:XValidation:rule="has(self.user) != has(self.group)",message="exactly one of user or group must be set"
type HandleMember struct {
	// user is the email address of a person, matched against the email claim
	// of their sign-in.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@\\\\s]+@[^@\\\\s]+$')",message="user must be an email address"
	User string `json:"user,omitempty"`

	// group is the name of a group from the sign-in provider's groups claim.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`

	// role says what the member may do on the MCP & Tools page: an Admin may
	// revoke grants and manage connectors; a Viewer only sees them. Both may
	// approve connectors within their scopes. Defaults to Viewer.
	// +optional
	// +kubebuilder:default=Viewer
	Role MemberRole `json:"role,omitempty"`

	// scopes limits the scopes this member may approve. When omitted the
	// member may approve every scope the handle offers.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Scopes []Scope `json:"scopes,omitempty"`
}

// MemberRole is a member's role on a handle.
// +kubebuilder:validation:Enum=Admin;Viewer
type MemberRole string

const (
	// MemberRoleAdmin may manage connectors and revoke grants.
	MemberRoleAdmin MemberRole = "Admin"
	// MemberRoleViewer may see connectors and approve them within their scopes.
	MemberRoleViewer MemberRole = "Viewer"
)

// ToolsetReference names a Toolset.
type ToolsetReference struct {
	// name is the name of the Toolset.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name,omitempty"`
}

// HandleEndpoints are the three MCP URLs of a handle, as the guide names them.
type HandleEndpoints struct {
	// hosted is the canonical hosted URL, https://{handle}.{mcpDomain}/mcp.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Hosted string `json:"hosted,omitempty"`
	// gateway is the shared app URL, https://{gatewayHost}/mcp, where the
	// handle is chosen during authorization. Empty when the shared gateway is
	// disabled.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Gateway string `json:"gateway,omitempty"`
	// compatibility is the fallback URL for rollout windows,
	// https://{gatewayHost}/mcp/{handle}/mcp.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Compatibility string `json:"compatibility,omitempty"`
}

// HandleStatus is what the operator and the runtime observed of a handle.
type HandleStatus struct {
	// conditions describe the handle's state; see the HandleCondition* types.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// endpoints are the MCP URLs to register in a connector, the same values
	// the MCP & Tools page shows.
	// +optional
	Endpoints *HandleEndpoints `json:"endpoints,omitempty"`

	// observedGeneration is the generation of the spec the operator last
	// acted on.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Handle is a tenant with its own hosted MCP endpoint at
// https://{handle}.{mcpDomain}/mcp, reachable too through the shared gateway
// URL and the compatibility path. The object's name is the handle: an RFC 1123
// DNS label of at most 63 characters that is not one of the platform's
// reserved names.
//
// There is deliberately no field for a custom MCP domain. Mapped custom
// domains only cover public site and redirect traffic: MCP stays on the
// platform hostname because it depends on platform-managed wildcard DNS and
// TLS for per-handle hosts, OAuth protected-resource and authorization-server
// discovery on known domains, and deterministic host-to-handle routing and
// session isolation without per-customer wildcard delegation.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=hdl,categories=mcp
// +kubebuilder:printcolumn:name="Hosted URL",type=string,JSONPath=`.status.endpoints.hosted`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspended`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="a handle's name must be an RFC 1123 DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
// +kubebuilder:validation:XValidation:rule="!(self.metadata.name in ['www', 'ai', 'app', 'api', 'mcp', 'auth', 'login', 'admin', 'static', 'status'])",message="this handle name is reserved by the platform"
type Handle struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata; its name is the handle.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the handle. A handle with an empty spec is served with the
	// full scope catalogue and no members.
	// +optional
	Spec HandleSpec `json:"spec,omitzero"`

	// status is what the operator and the runtime observed.
	// +optional
	Status HandleStatus `json:"status,omitempty"`
}

// HandleList is a list of Handles.
//
// +kubebuilder:object:root=true
type HandleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Handle `json:"items"`
}

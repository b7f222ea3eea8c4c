package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConnectionSpec records a user's approval of one OAuth client on one
// handle. The runtime writes it; deleting the object revokes every token
// issued from it on every runtime replica.
type ConnectionSpec struct {
	// handle is the handle the grant, and every token issued from it, is
	// bound to. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="handle is immutable"
	Handle string `json:"handle,omitempty"`

	// clientID is the OAuth client_id the user approved. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="clientID is immutable"
	ClientID string `json:"clientID,omitempty"`

	// subject identifies the user who approved: the sign-in provider's issuer
	// and subject, as "issuer#subject". Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="subject is immutable"
	Subject string `json:"subject,omitempty"`

	// email is the user's email address at approval time, for people reading
	// the grant.
	// +optional
	// +kubebuilder:validation:MaxLength=254
	Email string `json:"email,omitempty"`

	// resource is the RFC 8707 resource (the MCP URL) the tokens are issued
	// for.
	// +required
	// +kubebuilder:validation:MinLength=8
	// +kubebuilder:validation:MaxLength=2048
	Resource string `json:"resource,omitempty"`

	// scopes are the scopes the user approved.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Scopes []Scope `json:"scopes,omitempty"`
}

// ConnectionStatus is what the runtime observed of the grant: step-up and
// bootstrap. The grant's token state (hashes of its code and refresh tokens)
// lives in the annotation mcp.10x.in/token-state instead, because it cannot
// be observed again and backup tools do not restore status; the token
// fields here are what runtimes before that wrote, read until the grant's
// next token write moves them.
type ConnectionStatus struct {
	// conditions describe the connection's state; see the
	// ConnectionCondition* types.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// refreshTokenHash is the SHA-256 (base64url) of the one refresh token that
	// is currently valid. Presenting any other refresh token of this grant
	// revokes it.
	// Legacy: the annotation mcp.10x.in/token-state holds it now; the runtime
	// reads this field only to migrate a grant written before.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RefreshTokenHash string `json:"refreshTokenHash,omitempty"`

	// previousRefreshTokenHash is the hash of the refresh token the last
	// rotation replaced. Presented again before
	// previousRefreshTokenExpiresAt (a client retrying a refresh whose answer
	// it never received) it rotates again; later, or once the newer token
	// has been used, it revokes the grant like any other old token.
	// Legacy: the annotation mcp.10x.in/token-state holds it now; the runtime
	// reads this field only to migrate a grant written before.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PreviousRefreshTokenHash string `json:"previousRefreshTokenHash,omitempty"`

	// previousRefreshTokenExpiresAt ends the retry window of
	// previousRefreshTokenHash.
	// Legacy: the annotation mcp.10x.in/token-state holds it now; the runtime
	// reads this field only to migrate a grant written before.
	// +optional
	PreviousRefreshTokenExpiresAt *metav1.Time `json:"previousRefreshTokenExpiresAt,omitempty"`

	// refreshCount is how many times the refresh token has rotated.
	// Legacy: the annotation mcp.10x.in/token-state holds it now; the runtime
	// reads this field only to migrate a grant written before.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RefreshCount int64 `json:"refreshCount,omitempty"`

	// lastRefreshTime is when the refresh token last rotated.
	// Legacy: the annotation mcp.10x.in/token-state holds it now; the runtime
	// reads this field only to migrate a grant written before.
	// +optional
	LastRefreshTime *metav1.Time `json:"lastRefreshTime,omitempty"`

	// authorizationCode is the grant's pending authorization code until it
	// is exchanged or expires.
	// Legacy: the annotation mcp.10x.in/token-state holds it now; the runtime
	// reads this field only to migrate a grant written before.
	// +optional
	AuthorizationCode *AuthorizationCodeState `json:"authorizationCode,omitempty"`

	// consumedCodeHash is the hash of the code already exchanged: presenting
	// it again revokes the grant and everything issued from it.
	// Legacy: the annotation mcp.10x.in/token-state holds it now; the runtime
	// reads this field only to migrate a grant written before.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ConsumedCodeHash string `json:"consumedCodeHash,omitempty"`

	// stepUp records scopes a request through this grant needed and the
	// grant lacks. Until stepUp.requestedAt + StepUpWindow a refresh of the
	// grant is refused with invalid_grant, so the client authorizes again
	// (RFC 6749 §6: a refresh cannot add scopes) and the user can approve
	// them; the grant itself stays valid.
	// +optional
	StepUp *ConnectionStepUp `json:"stepUp,omitempty"`

	// bootstrap is what the connector bootstrap flow observed: the smoke
	// check of tool discovery after the first authorization, then the
	// connector's own tool discovery. The Ready condition summarises it.
	// +optional
	Bootstrap *ConnectionBootstrap `json:"bootstrap,omitempty"`
}

// ConnectionBootstrap records tool discovery through a grant, so later
// requests reuse the result and `kubectl get connections` shows which
// connectors work.
type ConnectionBootstrap struct {
	// lastDiscoveryTime is when the handle's tools were last listed for this
	// grant (at most once every few minutes is recorded).
	// +optional
	LastDiscoveryTime *metav1.Time `json:"lastDiscoveryTime,omitempty"`

	// toolCount is how many tools that listing returned.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ToolCount *int32 `json:"toolCount,omitempty"`

	// lastError is why the last discovery failed; empty once one succeeds.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`

	// steps are the bootstrap flow's steps, each with its last result:
	// Authorized (the code was exchanged), ToolsChecked (the runtime
	// checked, before the connector's first tool request, that the
	// handle's toolsets answer with their tools; a request that arrives
	// meanwhile waits for it) and ToolsDiscovered (the connector listed the
	// tools). Once ToolsChecked has succeeded the connection is
	// bootstrapped and later requests skip the check.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=3
	Steps []ConnectionBootstrapStep `json:"steps,omitempty"`
}

// BootstrapStep names a step of the bootstrap flow.
// +kubebuilder:validation:Enum=Authorized;ToolsChecked;ToolsDiscovered
type BootstrapStep string

// The bootstrap flow's steps, in order.
const (
	BootstrapStepAuthorized      BootstrapStep = "Authorized"
	BootstrapStepToolsChecked    BootstrapStep = "ToolsChecked"
	BootstrapStepToolsDiscovered BootstrapStep = "ToolsDiscovered"
)

// BootstrapResult is how a bootstrap step ended.
// +kubebuilder:validation:Enum=Succeeded;Failed
type BootstrapResult string

// The results of a bootstrap step.
const (
	BootstrapSucceeded BootstrapResult = "Succeeded"
	BootstrapFailed    BootstrapResult = "Failed"
)

// ConnectionBootstrapStep is the last result of one bootstrap step.
type ConnectionBootstrapStep struct {
	// name is the step.
	// +required
	Name BootstrapStep `json:"name,omitempty"`

	// result is how the step last ended.
	// +required
	Result BootstrapResult `json:"result,omitempty"`

	// time is when it ended.
	// +required
	Time *metav1.Time `json:"time,omitempty"`

	// message says what the step found: the tools counted, or why it
	// failed.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// StepUpWindow is how long after a request needed more scopes the grant's
// refresh is refused: long enough for a client that refreshes before it
// re-authorizes (the official MCP SDK does), short enough that a user who
// declined the scopes keeps a connector that refreshes later.
const StepUpWindow = 5 * time.Minute

// ConnectionStepUp is a pending step-up authorization.
type ConnectionStepUp struct {
	// scopes are the scopes the refused request needed and the grant lacks.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Scopes []Scope `json:"scopes,omitempty"`

	// requestedAt is when a request was last refused for lacking them.
	// +required
	RequestedAt *metav1.Time `json:"requestedAt,omitempty"`
}

// AuthorizationCodeState is a pending authorization code: a hash, never the
// code itself, and what the token request must match.
type AuthorizationCodeState struct {
	// hash is the SHA-256 (base64url) of the code.
	// +required
	// +kubebuilder:validation:MinLength=43
	// +kubebuilder:validation:MaxLength=64
	Hash string `json:"hash,omitempty"`

	// expiresAt is when the code stops being accepted.
	// +required
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// codeChallenge is the PKCE S256 challenge the token request's
	// code_verifier must match.
	// +required
	// +kubebuilder:validation:MinLength=43
	// +kubebuilder:validation:MaxLength=128
	CodeChallenge string `json:"codeChallenge,omitempty"`

	// redirectURI is the redirect_uri of the authorization request, which the
	// token request must repeat.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	RedirectURI string `json:"redirectURI,omitempty"`
}

// Connection is a grant: a user's approval of one OAuth client on one handle,
// with the state of its tokens in the annotation mcp.10x.in/token-state,
// which backups keep with the object. The runtime creates it at consent and
// updates it with optimistic concurrency so any replica can serve any step.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=conn,categories=mcp
// +kubebuilder:printcolumn:name="Handle",type=string,JSONPath=`.spec.handle`
// +kubebuilder:printcolumn:name="Client",type=string,JSONPath=`.spec.clientID`
// +kubebuilder:printcolumn:name="Email",type=string,JSONPath=`.spec.email`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Tools",type=integer,JSONPath=`.status.bootstrap.toolCount`
// +kubebuilder:printcolumn:name="Last Discovery",type=date,JSONPath=`.status.bootstrap.lastDiscoveryTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Connection struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec records the grant.
	// +required
	Spec ConnectionSpec `json:"spec,omitzero"`

	// status is what the runtime observed of the grant.
	// +optional
	Status ConnectionStatus `json:"status,omitempty"`
}

// ConnectionList is a list of Connections.
//
// +kubebuilder:object:root=true
type ConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Connection `json:"items"`
}

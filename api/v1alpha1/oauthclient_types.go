package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OAuthClientSpec declares a connector registration.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.handle) && has(self.gateway) && self.gateway) && (has(self.handle) || (has(self.gateway) && self.gateway) || self.registration == 'Dynamic')",message="exactly one of handle or gateway=true must be set: a client is bound to one handle or to the shared gateway (only a dynamically registered client may stay unbound until its first authorization)"
// +kubebuilder:validation:XValidation:rule="(!has(oldSelf.handle) && !(has(oldSelf.gateway) && oldSelf.gateway)) || (has(self.handle) == has(oldSelf.handle) && (!has(self.handle) || self.handle == oldSelf.handle) && (has(self.gateway) && self.gateway) == (has(oldSelf.gateway) && oldSelf.gateway))",message="the binding to a handle or to the gateway is immutable: register a new client instead"
// +kubebuilder:validation:XValidation:rule="!has(self.allowedScopes) || !has(self.defaultScopes) || self.defaultScopes.all(s, s in self.allowedScopes)",message="defaultScopes must be a subset of allowedScopes"
// +kubebuilder:validation:XValidation:rule="!has(self.redirectURIs) || !has(self.tokenEndpointAuthMethod) || self.tokenEndpointAuthMethod == 'none' || self.redirectURIs.all(u, !isURL(u) || url(u).getScheme() in ['https', 'http'])",message="private-use redirect URIs (native apps, RFC 8252 section 7.1) are for public clients only: tokenEndpointAuthMethod must be none"
// +kubebuilder:validation:XValidation:rule="(self.registration == 'MetadataDocument') == has(self.metadataDocumentURL)",message="metadataDocumentURL is required for, and only for, registration MetadataDocument"
type OAuthClientSpec struct {
	// handle binds the client to one handle: its tokens are only accepted on
	// that handle's endpoints. Immutable once set. A dynamically registered
	// client without a binding is bound by its first authorization.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Handle string `json:"handle,omitempty"`

	// gateway binds the client to the shared gateway URL
	// https://{gatewayHost}/mcp: users pick one of their handles while
	// authorizing. Immutable once set.
	// +optional
	Gateway bool `json:"gateway,omitempty"`

	// clientName is the name shown to people on the consent page.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	ClientName string `json:"clientName,omitempty"`

	// redirectURIs are the exact callback URLs the client may use, compared
	// byte for byte except a loopback http port (for ChatGPT, the connector's
	// https://chatgpt.com/connector/oauth/{callback_id}; for Cursor,
	// cursor://anysphere.cursor-mcp/oauth/callback). There is no default
	// callback.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	RedirectURIs []RedirectURI `json:"redirectURIs,omitempty"`

	// allowedScopes are the scopes the client may request. When omitted the
	// client may request every scope its handle offers.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	AllowedScopes []Scope `json:"allowedScopes,omitempty"`

	// defaultScopes are granted when an authorization or refresh request
	// omits scope. When omitted they are mcp.connect and skills.read.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	DefaultScopes []Scope `json:"defaultScopes,omitempty"`

	// tokenEndpointAuthMethod is how the client authenticates at the token
	// endpoint: none for public clients (PKCE only), client_secret_basic or
	// client_secret_post for confidential clients, whose secret the operator
	// generates into a Secret. Defaults to none.
	// +optional
	// +kubebuilder:default=none
	TokenEndpointAuthMethod TokenEndpointAuthMethod `json:"tokenEndpointAuthMethod,omitempty"`

	// registration records how the client came to exist: Declared by a person
	// or a GitOps repo, Dynamic through RFC 7591 registration, or
	// MetadataDocument for a client id metadata document. Defaults to
	// Declared.
	// +optional
	// +kubebuilder:default=Declared
	Registration RegistrationMethod `json:"registration,omitempty"`

	// metadataDocumentURL is the https URL of the client id metadata document,
	// which is also the client id. Set only for registration MetadataDocument.
	// +optional
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getEscapedPath() != '' && url(self).getEscapedPath() != '/'",message="metadataDocumentURL must be an https URL with a path"
	MetadataDocumentURL string `json:"metadataDocumentURL,omitempty"`
}

// RedirectURI is an absolute callback URL, one of:
//   - https;
//   - http on a loopback host (localhost, 127.0.0.1, [::1]), whose port the
//     client may change when it authorizes (RFC 8252 §7.3);
//   - a native app's private-use scheme (RFC 8252 §7.1), such as
//     cursor://anysphere.cursor-mcp/oauth/callback or
//     com.example.app:/callback: an RFC 3986 scheme in lowercase followed by
//     ":/", other than a scheme the browser handles itself or passes to a
//     system handler: http, ws, wss, ftp, file, about, blob, data,
//     filesystem, javascript, vbscript, view-source, chrome,
//     chrome-extension, edge, moz-extension, resource, intent, mailto, tel,
//     sms. Only public clients (tokenEndpointAuthMethod none) may use one.
//
// None may contain a fragment or user information. Everything but a
// loopback port is compared byte for byte.
//
// +kubebuilder:validation:MinLength=8
// +kubebuilder:validation:MaxLength=2048
// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() != 'http' || url(self).getHostname() in ['localhost', '127.0.0.1', '::1'])",message="redirect URIs must be absolute URLs; http is allowed only for localhost, 127.0.0.1 and [::1]"
// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() in ['https', 'http'] || (self.matches('^[a-z][a-z0-9+.-]*:/') && !(url(self).getScheme() in ['ws', 'wss', 'ftp', 'file', 'about', 'blob', 'data', 'filesystem', 'javascript', 'vbscript', 'view-source', 'chrome', 'chrome-extension', 'edge', 'moz-extension', 'resource', 'intent', 'mailto', 'tel', 'sms']))",message="a redirect URI's scheme must be https, http (loopback only) or a native app's private-use scheme: lowercase, followed by :/, and not one the browser handles itself (javascript, data, file, ...)"
// +kubebuilder:validation:XValidation:rule="!self.contains('#')",message="redirect URIs must not contain a fragment"
// +kubebuilder:validation:XValidation:rule="!self.matches('^[^:/?#]+://[^/?#]*@')",message="redirect URIs must not contain user information (user@host)"
type RedirectURI string

// TokenEndpointAuthMethod is an RFC 7591 token_endpoint_auth_method.
// +kubebuilder:validation:Enum=none;client_secret_basic;client_secret_post
type TokenEndpointAuthMethod string

// Token endpoint authentication methods.
const (
	TokenEndpointAuthNone              TokenEndpointAuthMethod = "none"
	TokenEndpointAuthClientSecretBasic TokenEndpointAuthMethod = "client_secret_basic"
	TokenEndpointAuthClientSecretPost  TokenEndpointAuthMethod = "client_secret_post"
)

// RegistrationMethod says how an OAuthClient was created.
// +kubebuilder:validation:Enum=Declared;Dynamic;MetadataDocument
type RegistrationMethod string

// Registration methods.
const (
	RegistrationDeclared         RegistrationMethod = "Declared"
	RegistrationDynamic          RegistrationMethod = "Dynamic"
	RegistrationMetadataDocument RegistrationMethod = "MetadataDocument"
)

// SecretReference names a Secret in the operator's namespace.
type SecretReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// namespace of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// OAuthClientStatus is what the operator observed of a client.
type OAuthClientStatus struct {
	// conditions describe the client's state; see the OAuthClientCondition*
	// types.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// clientID is the OAuth client_id assigned to the client.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	ClientID string `json:"clientID,omitempty"`

	// secretRef names the Secret holding the client secret of a confidential
	// client (key client_secret). The secret never appears in status or logs.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// observedGeneration is the generation of the spec the operator last
	// acted on.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// OAuthClient is a connector registration with the authorization server:
// bound to one handle or to the shared gateway, with its exact redirect URIs
// and scopes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=oac,categories=mcp
// +kubebuilder:printcolumn:name="Handle",type=string,JSONPath=`.spec.handle`
// +kubebuilder:printcolumn:name="Gateway",type=boolean,JSONPath=`.spec.gateway`
// +kubebuilder:printcolumn:name="Client ID",type=string,JSONPath=`.status.clientID`
// +kubebuilder:printcolumn:name="Registration",type=string,JSONPath=`.spec.registration`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OAuthClient struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the client.
	// +required
	Spec OAuthClientSpec `json:"spec,omitzero"`

	// status is what the operator observed.
	// +optional
	Status OAuthClientStatus `json:"status,omitempty"`
}

// OAuthClientList is a list of OAuthClients.
//
// +kubebuilder:object:root=true
type OAuthClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthClient `json:"items"`
}

// ClientID returns the OAuth client_id of the client: the metadata document
// URL for a client id metadata document, the object's name otherwise. It is
// derived, not stored first, so the runtime can answer a dynamic registration
// with the client_id before the operator has seen the new object.
func (c *OAuthClient) ClientID() string {
	if c.Spec.Registration == RegistrationMetadataDocument {
		return c.Spec.MetadataDocumentURL
	}
	return c.Name
}

// ClientSecretKey is the key of the client secret in a confidential
// client's Secret.
const ClientSecretKey = "client_secret"

// SecretName is the name of the Secret, in the platform namespace, that holds
// a confidential client's secret.
func (c *OAuthClient) SecretName() string { return "oauthclient-" + c.Name }

// Confidential reports whether the client authenticates with a secret.
func (c *OAuthClient) Confidential() bool {
	return c.Spec.TokenEndpointAuthMethod != "" && c.Spec.TokenEndpointAuthMethod != TokenEndpointAuthNone
}

// OfferedScopes returns the scopes a handle offers: spec.scopes, or the whole
// catalogue when it is omitted.
func (h *Handle) OfferedScopes() []Scope {
	if len(h.Spec.Scopes) > 0 {
		return h.Spec.Scopes
	}
	return AllScopes()
}

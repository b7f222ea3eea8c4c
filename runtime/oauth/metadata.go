package oauth

import (
	"net/http"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// Endpoint paths of the authorization server, under platform.OAuthPrefix.
const (
	AuthorizePath = platform.OAuthPrefix + "/authorize"
	TokenPath     = platform.OAuthPrefix + "/token"
	RegisterPath  = platform.OAuthPrefix + "/register"
	RevokePath    = platform.OAuthPrefix + "/revoke"
)

// AuthorizationServerMetadata is the RFC 8414 document.
type AuthorizationServerMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"` // keys of the tokens sent to upstream Toolsets
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// NewAuthorizationServerMetadata returns the metadata of the configured
// issuer.
func NewAuthorizationServerMetadata(cfg *platform.Config) AuthorizationServerMetadata {
	authMethods := []string{
		string(mcpv1alpha1.TokenEndpointAuthNone),
		string(mcpv1alpha1.TokenEndpointAuthClientSecretBasic),
		string(mcpv1alpha1.TokenEndpointAuthClientSecretPost),
	}
	return AuthorizationServerMetadata{
		Issuer:                                 cfg.Issuer,
		AuthorizationEndpoint:                  cfg.Issuer + AuthorizePath,
		TokenEndpoint:                          cfg.Issuer + TokenPath,
		RegistrationEndpoint:                   cfg.Issuer + RegisterPath,
		RevocationEndpoint:                     cfg.Issuer + RevokePath,
		JWKSURI:                                cfg.Issuer + platform.JWKSPath,
		ScopesSupported:                        scopeStrings(mcpv1alpha1.AllScopes()),
		ResponseTypesSupported:                 []string{"code"},
		ResponseModesSupported:                 []string{"query"},
		GrantTypesSupported:                    []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethodsSupported:      authMethods,
		RevocationEndpointAuthMethodsSupported: authMethods,
		CodeChallengeMethodsSupported:          []string{"S256"},
		ClientIDMetadataDocumentSupported:      cfg.ClientIDMetadataDocumentsEnabled(),
		// The authorization response carries iss (RFC 9207).
		AuthorizationResponseIssParameterSupported: true,
	}
}

// ProtectedResourceMetadata is the RFC 9728 document of one MCP resource.
type ProtectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// NewProtectedResourceMetadata returns the document of a resource: its exact
// URL, the configured issuer as its only authorization server, and the
// scopes a connector of it needs (the handle's connector scopes, or the
// catalogue on the shared gateway, where h is nil).
func NewProtectedResourceMetadata(cfg *platform.Config, r platform.Resource, h *mcpv1alpha1.Handle, scopes []mcpv1alpha1.Scope) ProtectedResourceMetadata {
	name := "MCP (shared)"
	if h != nil {
		name = h.Name
		if h.Spec.DisplayName != "" {
			name = h.Spec.DisplayName
		}
		name += " MCP"
	}
	return ProtectedResourceMetadata{
		Resource:               r.URL,
		AuthorizationServers:   []string{cfg.Issuer},
		ScopesSupported:        scopeStrings(scopes),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           name,
	}
}

// ServeMetadata writes a public metadata document that browsers may fetch
// cross-origin.
func ServeMetadata(w http.ResponseWriter, doc any) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, doc, "public, max-age=300")
}

func scopeStrings(scopes []mcpv1alpha1.Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

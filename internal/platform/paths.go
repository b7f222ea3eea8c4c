package platform

// Paths the runtime serves and the edge routes to it. The operator's
// HTTPRoutes and the runtime's mux both read them from here.
const (
	// MCPPath is the MCP endpoint on a hosted host and on the gateway host.
	MCPPath = "/mcp"
	// ProtectedResourcePath is the RFC 9728 well-known prefix; the MCP
	// resource's document lives at ProtectedResourcePath + MCPPath.
	ProtectedResourcePath = "/.well-known/oauth-protected-resource"
	// AuthorizationServerPath is the RFC 8414 metadata document. There is
	// no /.well-known/openid-configuration: the runtime is an OAuth 2.1
	// authorization server, not an OpenID Provider (it issues no ID tokens),
	// and MCP clients read RFC 8414 first.
	AuthorizationServerPath = "/.well-known/oauth-authorization-server"
	// JWKSPath is the JWK Set of the tokens the runtime sends to Toolsets
	// (the authorization-server metadata's jwks_uri).
	JWKSPath = "/.well-known/jwks.json"
	// OAuthPrefix holds the authorization server's endpoints (authorize,
	// token, register, revoke, jwks).
	OAuthPrefix = "/oauth"
	// UIPrefix holds the sign-in, consent, handle-picker and MCP & Tools pages
	// and their embedded assets.
	UIPrefix = "/ui"
)

// CompatibilityPath returns the gateway-host path of a handle's
// compatibility URL, /mcp/{handle}/mcp.
func CompatibilityPath(handle string) string { return MCPPath + "/" + handle + MCPPath }

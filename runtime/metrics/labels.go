package metrics

import (
	"strings"

	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// Endpoint kinds, the kind label of the request series.
const (
	KindMCP            = "mcp"
	KindMetadata       = "metadata"
	KindJWKS           = "jwks"
	KindOAuthAuthorize = "oauth-authorize"
	KindOAuthToken     = "oauth-token"
	KindOAuthRevoke    = "oauth-revoke"
	KindRegister       = "register"
	KindUI             = "ui"
	KindProbe          = "probe"
	KindOther          = "other"
)

// Kind classifies a request path; every path the runtime does not serve is
// "other", so a scanner cannot add series.
func Kind(path string) string {
	oauthPath := func(p string) bool { return path == platform.OAuthPrefix+p }
	switch {
	case path == platform.MCPPath || strings.HasPrefix(path, platform.MCPPath+"/"):
		return KindMCP
	case path == platform.JWKSPath:
		return KindJWKS
	case strings.HasPrefix(path, "/.well-known/"):
		return KindMetadata
	case oauthPath("/authorize"):
		return KindOAuthAuthorize
	case oauthPath("/token"):
		return KindOAuthToken
	case oauthPath("/revoke"):
		return KindOAuthRevoke
	case oauthPath("/register") || strings.HasPrefix(path, platform.OAuthPrefix+"/register/"):
		return KindRegister
	case strings.HasPrefix(path, "/ui/"):
		return KindUI
	case path == "/healthz" || path == "/readyz":
		return KindProbe
	}
	return KindOther
}

// mcpMethods are the JSON-RPC methods of the MCP versions served; a client
// may send any string, the rest is "other".
var mcpMethods = []string{
	"initialize", "ping", "tools/list", "tools/call",
	"resources/list", "resources/read", "resources/templates/list", "resources/subscribe", "resources/unsubscribe",
	"prompts/list", "prompts/get", "completion/complete", "logging/setLevel", "subscriptions/listen",
	"notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/roots/list_changed",
}

// grantTypes are those the token endpoint serves.
var grantTypes = []string{"authorization_code", "refresh_token"}

// tokenErrors are the codes the token endpoint answers (RFC 6749 section
// 5.2, RFC 8707's invalid_target).
var tokenErrors = []string{
	oautherr.InvalidRequest, oautherr.InvalidClient, oautherr.InvalidGrant, oautherr.InvalidScope,
	oautherr.UnsupportedGrantType, oautherr.InvalidTarget, oautherr.ServerError, oautherr.TemporarilyUnavailable,
}

// rejectionReasons are the MCP endpoint's 401 codes.
var rejectionReasons = []string{
	oautherr.InvalidToken, oautherr.MissingBearerToken, oautherr.InvalidTokenFormat,
	oautherr.TokenHandleMismatch, oautherr.SessionHandleMismatch,
}

package runtime

import (
	"fmt"
	"net/http"
	"strings"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
)

// serveAuthorizationServerMetadata serves RFC 8414 metadata on the issuer's
// host only, so its issuer always equals the URL it was fetched from.
func (s *Server) serveAuthorizationServerMetadata(w http.ResponseWriter, r *http.Request) {
	if !s.Config.IsGatewayHost(r.Host) {
		notFound(w, "no authorization server on this host: it is at "+s.Config.Issuer+platform.AuthorizationServerPath)
		return
	}
	oauth.ServeMetadata(w, oauth.NewAuthorizationServerMetadata(s.Config))
}

// serveProtectedResourceMetadata serves the RFC 9728 document of the MCP
// resource whose path follows the well-known prefix (for a hosted host,
// the bare prefix means its /mcp resource too).
func (s *Server) serveProtectedResourceMetadata(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, platform.ProtectedResourcePath)
	if path == "" && !s.Config.IsGatewayHost(r.Host) {
		path = platform.MCPPath
	}
	res, ok := s.Config.ResourceAt(r.Host, path)
	if !ok {
		notFound(w, fmt.Sprintf("no MCP resource at %s%s", r.Host, path))
		return
	}
	if res.Kind == platform.ResourceGateway {
		oauth.ServeMetadata(w, oauth.NewProtectedResourceMetadata(s.Config, res, nil, mcpv1alpha1.AllScopes()))
		return
	}
	h, err := s.Handles.Handle(r.Context(), res.Handle)
	if err != nil {
		oauth.Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the handle could not be read; retry shortly").Write(w)
		return
	}
	if h == nil {
		notFound(w, fmt.Sprintf("handle %q does not exist", res.Handle))
		return
	}
	scopes, err := s.Handles.ConnectorScopes(r.Context(), h)
	if err != nil {
		oauth.Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the handle's toolsets could not be read; retry shortly").Write(w)
		return
	}
	oauth.ServeMetadata(w, oauth.NewProtectedResourceMetadata(s.Config, res, h, scopes))
}

func notFound(w http.ResponseWriter, description string) {
	oauth.Errorf(http.StatusNotFound, oautherr.NotFound, description).Write(w)
}

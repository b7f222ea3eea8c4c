// Package runtime is the HTTP server of mcp-handle-operator: one process
// serving every handle's MCP endpoint, the OAuth authorization server, its
// metadata documents and the web pages, routed by Host and path. The objects
// in the cluster, read through informers, are its only source of truth.
package runtime

import (
	"context"
	"net/http"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// Handles reads handles from the cluster (an informer cache in production).
type Handles interface {
	// Handle returns the named handle, or nil when it does not exist.
	Handle(ctx context.Context, name string) (*mcpv1alpha1.Handle, error)
}

// Server serves every endpoint of the runtime.
type Server struct {
	Config  *platform.Config
	Handles Handles
}

// Handler returns the runtime's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+platform.AuthorizationServerPath, s.serveAuthorizationServerMetadata)
	mux.HandleFunc("GET "+platform.ProtectedResourcePath, s.serveProtectedResourceMetadata)
	mux.HandleFunc("GET "+platform.ProtectedResourcePath+"/{path...}", s.serveProtectedResourceMetadata)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

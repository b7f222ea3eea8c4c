package runtime

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// canonicalPaths refuses an MCP endpoint or protected-resource metadata path
// that is not spelled exactly as its canonical URL (repeated slashes, dot
// segments, a trailing slash, percent-encoding). The metadata names the
// canonical URL as the resource, so a client that connected to another
// spelling would fail its resource check after OAuth; a 404 naming the URL
// to use says so up front. A redirect, which http.ServeMux would otherwise
// answer, is not followed with its POST body by every MCP client.
func (s *Server) canonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, clean := r.URL.EscapedPath(), path.Clean(r.URL.Path)
		if raw != clean {
			if canonical, ok := s.canonicalURL(r.Host, clean); ok {
				notFound(w, fmt.Sprintf("no MCP resource at %s%s: use %s", r.Host, raw, canonical))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalURL returns the canonical URL of the MCP endpoint or metadata
// document a cleaned path names on a host.
func (s *Server) canonicalURL(host, clean string) (string, bool) {
	if res, ok := s.Config.ResourceAt(host, clean); ok {
		return res.URL, true
	}
	rest, ok := strings.CutPrefix(clean, platform.ProtectedResourcePath)
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	if rest == "" && !s.Config.IsGatewayHost(host) {
		rest = platform.MCPPath // a hosted host's bare prefix
	}
	if res, ok := s.Config.ResourceAt(host, rest); ok {
		return res.MetadataURL(), true
	}
	return "", false
}

package runtime

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNonCanonicalPathsAreRefused: every other spelling of an MCP URL or of
// its metadata document is a 404 naming the canonical URL (the one the
// metadata's resource names), not served and not redirected.
func TestNonCanonicalPathsAreRefused(t *testing.T) {
	h := testServer(t).Handler()
	const (
		hosted     = "https://acme.mcp.10x.in/mcp"
		hostedPRM  = "https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp"
		shared     = "https://ai.10x.in/mcp"
		compat     = "https://ai.10x.in/mcp/acme/mcp"
		compatPRM  = "https://ai.10x.in/.well-known/oauth-protected-resource/mcp/acme/mcp"
		acmeHost   = "acme.mcp.10x.in"
		gatewayHst = "ai.10x.in"
	)
	cases := []struct {
		host, path, use string // use "" means served as it is
	}{
		{acmeHost, "/mcp/", hosted},
		{acmeHost, "//mcp", hosted},
		{acmeHost, "/./mcp", hosted},
		{acmeHost, "/x/../mcp", hosted},
		{acmeHost, "/%6Dcp", hosted},
		{acmeHost, "/.well-known/oauth-protected-resource/mcp", ""},
		{acmeHost, "/.well-known/oauth-protected-resource", ""},
		{acmeHost, "/.well-known/oauth-protected-resource/", hostedPRM},
		{acmeHost, "/.well-known/oauth-protected-resource//mcp", hostedPRM},
		{acmeHost, "/.well-known/oauth-protected-resource/mcp/", hostedPRM},
		{gatewayHst, "/mcp/", shared},
		{gatewayHst, "/mcp//acme/mcp", compat},
		{gatewayHst, "/mcp/acme/mcp/", compat},
		{gatewayHst, "/mcp/./acme/mcp", compat},
		{gatewayHst, "/mcp/beta/../acme/mcp", compat},
		{gatewayHst, "/mcp%2Facme%2Fmcp", compat},
		{gatewayHst, "/mcp/acme%2Fmcp", compat},
		{gatewayHst, "/.well-known/oauth-protected-resource/mcp/acme/mcp", ""},
		{gatewayHst, "/.well-known/oauth-protected-resource//mcp/acme/mcp", compatPRM},
		{gatewayHst, "/.well-known/oauth-protected-resource/mcp/acme/./mcp", compatPRM},
	}
	for _, tc := range cases {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			method := http.MethodPost
			if strings.HasPrefix(tc.path, "/.well-known") {
				method = http.MethodGet
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, "https://"+tc.host+tc.path, strings.NewReader("{}")))
			body, _ := io.ReadAll(rec.Body)
			if tc.use == "" {
				if rec.Code != http.StatusOK {
					t.Fatalf("the canonical spelling: %d %s", rec.Code, body)
				}
				return
			}
			var e struct {
				Description string `json:"error_description"`
			}
			_ = json.Unmarshal(body, &e)
			if rec.Code != http.StatusNotFound || !strings.HasSuffix(e.Description, "use "+tc.use) {
				t.Errorf("%d %s, want 404 naming %s", rec.Code, body, tc.use)
			}
		})
	}
}

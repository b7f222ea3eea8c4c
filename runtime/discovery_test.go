package runtime

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// fakeHandles is a fixed set of handles.
type fakeHandles map[string]*mcpv1alpha1.Handle

func (f fakeHandles) Handle(_ context.Context, name string) (*mcpv1alpha1.Handle, error) {
	return f[name], nil
}

// ConnectorScopes treats every toolset a handle names as one like the
// Links example: links.read for its read-only tools, links.write for the
// others.
func (f fakeHandles) ConnectorScopes(_ context.Context, h *mcpv1alpha1.Handle) ([]mcpv1alpha1.Scope, error) {
	var specs []*mcpv1alpha1.ToolsetSpec
	for range h.Spec.Toolsets {
		specs = append(specs, &mcpv1alpha1.ToolsetSpec{Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}})
	}
	return h.ConnectorScopes(specs), nil
}

func (f fakeHandles) List(context.Context) ([]mcpv1alpha1.Handle, error) {
	var out []mcpv1alpha1.Handle
	for _, h := range f {
		out = append(out, *h)
	}
	return out, nil
}

func testServer(t *testing.T, edit ...func(*platform.Config)) *Server {
	t.Helper()
	cfg, err := platform.Load("../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(cfg)
	}
	return &Server{Config: cfg, Handles: fakeHandles{
		"acme": {ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: mcpv1alpha1.HandleSpec{DisplayName: "Acme Inc.",
			Scopes:   []mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.read", "links.write", "pages.read"},
			Toolsets: []mcpv1alpha1.ToolsetReference{{Name: "links"}}}},
	}}
}

func fetch(t *testing.T, h http.Handler, host, path string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "https://"+host+path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(body)
}

func TestDiscoveryDocuments(t *testing.T) {
	h := testServer(t).Handler()
	cases := []struct {
		name, host, path, golden string
	}{
		{"authorization server", "ai.10x.in", "/.well-known/oauth-authorization-server", "authorization-server.json"},
		{"hosted resource", "acme.mcp.10x.in", "/.well-known/oauth-protected-resource/mcp", "resource-hosted.json"},
		{"hosted resource at the bare prefix", "acme.mcp.10x.in", "/.well-known/oauth-protected-resource", "resource-hosted.json"},
		{"shared gateway resource", "ai.10x.in", "/.well-known/oauth-protected-resource/mcp", "resource-gateway.json"},
		{"compatibility resource", "ai.10x.in", "/.well-known/oauth-protected-resource/mcp/acme/mcp", "resource-compatibility.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fetch(t, h, tc.host, tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("metadata is not readable cross-origin")
			}
			checkGolden(t, tc.golden, body)
		})
	}
}

func TestDiscoveryInvariants(t *testing.T) {
	s := testServer(t, func(c *platform.Config) { c.LegacyAuthorizationServers = []string{"api.10x.in"} })
	h := s.Handler()
	_, body := fetch(t, h, "ai.10x.in", "/.well-known/oauth-authorization-server")
	var as map[string]any
	if err := json.Unmarshal([]byte(body), &as); err != nil {
		t.Fatal(err)
	}
	if as["issuer"] != "https://ai.10x.in" {
		t.Errorf("issuer %v differs from the URL it was fetched from", as["issuer"])
	}
	if m := as["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
		t.Errorf("code challenge methods = %v, want only S256", m)
	}
	for path, resource := range map[string]string{
		"/.well-known/oauth-protected-resource/mcp":          "https://acme.mcp.10x.in/mcp",
		"/.well-known/oauth-protected-resource/mcp/acme/mcp": "https://ai.10x.in/mcp/acme/mcp",
	} {
		host := "ai.10x.in"
		if !strings.Contains(path, "acme") {
			host = "acme.mcp.10x.in"
		}
		_, body := fetch(t, h, host, path)
		var prm oauthPRM
		if err := json.Unmarshal([]byte(body), &prm); err != nil {
			t.Fatal(err)
		}
		if prm.Resource != resource {
			t.Errorf("%s: resource %q, want the URL the client connects to, %q", path, prm.Resource, resource)
		}
		if len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != "https://ai.10x.in" || strings.Contains(body, "api.10x.in") {
			t.Errorf("%s: authorization servers %v", path, prm.AuthorizationServers)
		}
	}
}

type oauthPRM struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
}

func TestDiscoveryRefusals(t *testing.T) {
	h := testServer(t).Handler()
	noGateway := testServer(t, func(c *platform.Config) { c.SharedGateway.Enabled = false }).Handler()
	cases := []struct {
		name    string
		handler http.Handler
		host    string
		path    string
		want    string
	}{
		{"unknown handle", h, "ghost.mcp.10x.in", "/.well-known/oauth-protected-resource/mcp", `handle \"ghost\" does not exist`},
		{"unknown handle on the compatibility path", h, "ai.10x.in", "/.well-known/oauth-protected-resource/mcp/ghost/mcp", `handle \"ghost\" does not exist`},
		{"authorization server on a hosted host", h, "acme.mcp.10x.in", "/.well-known/oauth-authorization-server", "no authorization server on this host"},
		{"foreign host", h, "evil.example.com", "/.well-known/oauth-protected-resource/mcp", "no MCP resource at evil.example.com/mcp"},
		{"shared gateway disabled", noGateway, "ai.10x.in", "/.well-known/oauth-protected-resource/mcp", "no MCP resource at ai.10x.in/mcp"},
		{"bare prefix on the gateway host", h, "ai.10x.in", "/.well-known/oauth-protected-resource", "no MCP resource"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fetch(t, tc.handler, tc.host, tc.path)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, tc.want) {
				t.Errorf("status %d, body %s; want 404 with %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

// checkGolden compares body with testdata/<name>; -update rewrites it.
func checkGolden(t *testing.T, name, body string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		var pretty map[string]any
		if err := json.Unmarshal([]byte(body), &pretty); err != nil {
			t.Fatal(err)
		}
		out, _ := json.MarshalIndent(pretty, "", "  ")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var got, exp any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if string(g) != string(e) {
		t.Errorf("%s differs (run with -update after an intended change):\ngot  %s\nwant %s", path, g, e)
	}
}

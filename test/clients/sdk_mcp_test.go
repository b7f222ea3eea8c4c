package clients_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// mcpFlow is one flow as mcp-client.mjs reports it.
type mcpFlow struct {
	ServerURL     string `json:"serverUrl"`
	GrantedScope  string `json:"grantedScope"`
	AccessToken   string `json:"accessToken"`
	ServerVersion struct {
		Name string `json:"name"`
	} `json:"serverVersion"`
	Capabilities    map[string]any `json:"capabilities"`
	ProtocolVersion string         `json:"protocolVersion"`
	SessionID       string         `json:"sessionId"`
	Tools           []struct {
		Name     string `json:"name"`
		ReadOnly bool   `json:"readOnly"`
	} `json:"tools"`
	Read      toolResult `json:"read"`
	ReadAfter toolResult `json:"readAfter"`
	Write     struct {
		Result *toolResult `json:"result"`
		Error  *struct {
			Name    string `json:"name"`
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Requests []struct {
			Method          string `json:"method"`
			URL             string `json:"url"`
			Status          int    `json:"status"`
			WWWAuthenticate string `json:"wwwAuthenticate"`
		} `json:"requests"`
		NewAuthorizations int   `json:"newAuthorizations"`
		TokensSaved       int   `json:"tokensSaved"`
		Invalidations     []any `json:"invalidations"`
	} `json:"write"`
	TransportErrors []string `json:"transportErrors"`
	OAuthRequests   []string `json:"oauthRequests"`
}

type toolResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StructuredContent map[string]any `json:"structuredContent"`
	IsError           bool           `json:"isError"`
}

// TestSDKClientMCP runs the TypeScript SDK's Client with its
// StreamableHTTPClientTransport on the three URL forms of the handle's MCP
// endpoint: the hosted https://acme.mcp.localhost:PORT/mcp (the script's
// fetch dials 127.0.0.1 for *.localhost and verifies TLS with the test CA),
// the shared gateway https://localhost:PORT/mcp and the compatibility URL
// https://localhost:PORT/mcp/acme/mcp. After the OAuth flow (auth() with
// the scopes of the Links toolset's read tools) the transport connects with
// the same OAuthClientProvider, lists the Links tools and calls the
// read-only list_links, which reaches the example upstream with a token
// for acme.
//
// Then the step-up: create_link needs links.write, which the grant lacks.
// The endpoint answers 403 with error="insufficient_scope" and the scopes
// to ask for in the challenge. The SDK (1.32.2) reacts by running auth()
// with that scope, which, holding a refresh token, refreshes instead of
// asking the user, gets the same scopes back, sends the call again, and on
// the same 403 gives up with StreamableHTTPError 403 "Server returned 403
// after trying upscoping". The test pins that behaviour
// (docs/development.md, "MCP client suites").
func TestSDKClientMCP(t *testing.T) {
	s := newStack(t)
	wait := s.mintAccess(t, "sdk-mcp-wait", handleScopes...)
	s.waitForTools(t, s.cfg.HostedURL(handle), wait, linksTools)

	granted := []string{"mcp.connect", "skills.read", "links.read"}
	urls := []string{s.cfg.HostedURL(handle), s.cfg.GatewayURL(), s.cfg.CompatibilityURL(handle)}
	var specs []map[string]any
	for _, u := range urls {
		specs = append(specs, map[string]any{
			"serverUrl": u, "scope": strings.Join(granted, " "), "handle": handle,
			"readTool":  map[string]any{"name": "links_list_links", "arguments": map[string]any{}},
			"writeTool": map[string]any{"name": "links_create_link", "arguments": map[string]any{"path": "/sdk", "target": "https://example.com/sdk"}},
		})
	}
	flows, _ := json.Marshal(specs)
	start := time.Now()
	out := s.runNode(t, []string{
		"MCP_FLOWS=" + string(flows), "MCP_EMAIL=" + email, "MCP_PASSWORD=" + password, "MCP_REDIRECT_URL=http://127.0.0.1:33418/callback",
	}, "mcp-client.mjs")
	t.Logf("mcp-client.mjs took %s", time.Since(start).Round(time.Millisecond))
	var result struct {
		Node  string    `json:"node"`
		Flows []mcpFlow `json:"flows"`
	}
	if err := json.Unmarshal(out, &result); err != nil || len(result.Flows) != len(urls) {
		t.Fatalf("mcp-client.mjs printed %d flows (%v):\n%s", len(result.Flows), err, out)
	}
	for i, f := range result.Flows {
		t.Run(urls[i], func(t *testing.T) {
			if f.ServerURL != urls[i] {
				t.Fatalf("flow for %s, want %s", f.ServerURL, urls[i])
			}
			f.check(t, s, granted)
		})
	}
}

func (f *mcpFlow) check(t *testing.T, s *stack, granted []string) {
	t.Helper()
	// The OAuth flow discovered from this URL and the grant records it.
	prm := strings.Replace(f.ServerURL, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	if !slices.Contains(f.OAuthRequests, "GET "+prm+" 200") {
		t.Errorf("no protected-resource metadata from %s; requests:\n%s", prm, strings.Join(f.OAuthRequests, "\n"))
	}
	a, err := s.keys.Keys().VerifyAccess(f.AccessToken, time.Now())
	if err != nil || a.Handle != handle || !sameScopes(f.GrantedScope, granted) {
		t.Fatalf("access token %+v (%v), scope %q", a, err, f.GrantedScope)
	}
	conn := &mcpv1alpha1.Connection{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: a.Grant}, conn); err != nil || conn.Spec.Resource != f.ServerURL {
		t.Errorf("grant %s: resource %q (%v), want %s", a.Grant, conn.Spec.Resource, err, f.ServerURL)
	}

	// The session.
	if f.ServerVersion.Name != "mcp-handle-operator" || f.ProtocolVersion != "2025-11-25" || f.SessionID == "" || f.Capabilities["tools"] == nil {
		t.Errorf("connected to %q at protocol %q, session %q, capabilities %v", f.ServerVersion.Name, f.ProtocolVersion, f.SessionID, f.Capabilities)
	}
	var names []string
	for _, tool := range f.Tools {
		names = append(names, tool.Name)
		if tool.ReadOnly != (tool.Name == "links_list_links") {
			t.Errorf("tool %s: readOnlyHint %v", tool.Name, tool.ReadOnly)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, linksTools) {
		t.Errorf("tools/list: %v, want %v", names, linksTools)
	}
	for name, r := range map[string]toolResult{"list_links": f.Read, "list_links after the refused call": f.ReadAfter} {
		if r.IsError || len(r.Content) != 1 || r.Content[0].Text != handle+" has no links." || r.StructuredContent["handle"] != handle {
			t.Errorf("%s: %+v", name, r)
		}
	}

	// The step-up: 403 with the challenge, one refresh, the same 403, and
	// the SDK's error; no new authorization was started.
	w := f.Write
	wantChallenge := []string{`error="insufficient_scope"`, `scope="mcp.connect skills.read links.read links.write"`,
		`resource_metadata="` + prm + `"`}
	var mcpPosts, refreshes int
	for _, r := range w.Requests {
		switch {
		case r.Method == http.MethodPost && r.URL == f.ServerURL:
			mcpPosts++
			for _, want := range wantChallenge {
				if r.Status != http.StatusForbidden || !strings.Contains(r.WWWAuthenticate, want) {
					t.Errorf("create_link: HTTP %d, WWW-Authenticate %q; want 403 with %s", r.Status, r.WWWAuthenticate, want)
				}
			}
		case r.Method == http.MethodPost && r.URL == s.origin+"/oauth/token" && r.Status == http.StatusOK:
			refreshes++
		}
	}
	if w.Result != nil || w.Error == nil || w.Error.Code != http.StatusForbidden || !strings.Contains(w.Error.Message, "Server returned 403 after trying upscoping") {
		t.Errorf("create_link: the SDK surfaced result %+v error %+v; want StreamableHTTPError 403 after trying upscoping", w.Result, w.Error)
	}
	if mcpPosts != 2 || refreshes != 1 || w.NewAuthorizations != 0 || w.TokensSaved != 1 || len(w.Invalidations) != 0 {
		t.Errorf("step-up: %d calls, %d refreshes, %d new authorizations, %d tokens saved, invalidations %v; want 2, 1, 0, 1, none; requests %+v",
			mcpPosts, refreshes, w.NewAuthorizations, w.TokensSaved, w.Invalidations, w.Requests)
	}
	if !strings.HasPrefix(f.AccessToken, tokens.AccessPrefix) {
		t.Errorf("access token %q", f.AccessToken)
	}
}

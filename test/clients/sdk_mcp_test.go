package clients_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	Read          toolResult `json:"read"`
	Write         toolResult `json:"write"`
	ReadAfter     toolResult `json:"readAfter"`
	WriteRequests []struct {
		Method          string `json:"method"`
		URL             string `json:"url"`
		Status          int    `json:"status"`
		WWWAuthenticate string `json:"wwwAuthenticate"`
		Error           string `json:"error"`
	} `json:"writeRequests"`
	Consents []struct {
		RequestedScope string `json:"requestedScope"`
		GrantedScope   string `json:"grantedScope"`
	} `json:"consents"`
	Registrations    int      `json:"registrations"`
	FinalScope       string   `json:"finalScope"`
	FinalAccessToken string   `json:"finalAccessToken"`
	Requests         []string `json:"requests"`
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
// endpoint — the hosted https://acme.mcp.localhost:PORT/mcp (the script's
// fetch dials 127.0.0.1 for *.localhost and verifies TLS with the test CA),
// the shared gateway https://localhost:PORT/mcp and the compatibility URL
// https://localhost:PORT/mcp/acme/mcp — as an application does: an
// OAuthClientProvider and nothing else, so the SDK picks the scopes itself
// (the 401 challenge's, then scopes_supported). One consent must give a
// token that lists the Links tools and calls both the read-only list_links
// and create_link (issue 14).
//
// On the compatibility URL the user clears links.write on the consent page.
// create_link then needs a step-up: the endpoint answers 403
// insufficient_scope and records it on the grant; the SDK refreshes first,
// which is refused with invalid_grant while the step-up is pending, so the
// SDK drops its tokens and sends the user to authorize again; after that
// one more consent the call succeeds (docs/runtime.md, "Step-up").
func TestSDKClientMCP(t *testing.T) {
	s := newStack(t)
	wait := s.mintAccess(t, "sdk-mcp-wait", handleScopes...)
	s.waitForTools(t, s.cfg.HostedURL(handle), wait, linksTools)

	urls := []string{s.cfg.HostedURL(handle), s.cfg.GatewayURL(), s.cfg.CompatibilityURL(handle)}
	var specs []map[string]any
	for i, u := range urls {
		spec := map[string]any{
			"serverUrl": u, "handle": handle,
			"readTool":  map[string]any{"name": "links_list_links", "arguments": map[string]any{}},
			"writeTool": map[string]any{"name": "links_create_link", "arguments": map[string]any{"path": fmt.Sprintf("/sdk-%d", i), "target": "https://example.com/sdk"}},
		}
		if u == s.cfg.CompatibilityURL(handle) {
			spec["uncheck"] = []string{"links.write"}
		}
		specs = append(specs, spec)
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
			f.check(t, s, specs[i]["uncheck"] != nil)
			if t.Failed() {
				t.Logf("requests:\n%s", strings.Join(f.Requests, "\n"))
			}
		})
	}
}

func (f *mcpFlow) check(t *testing.T, s *stack, stepUp bool) {
	t.Helper()
	all := strings.Join(scopeStrings(handleScopes), " ")
	// The SDK discovered from this URL, asked for the scopes of the
	// challenge (the handle's connector scopes; the whole catalogue on the
	// shared gateway, narrowed at consent) and registered once.
	prm := strings.Replace(f.ServerURL, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	if !slices.Contains(f.Requests, "GET "+prm+" 200") {
		t.Errorf("no protected-resource metadata from %s", prm)
	}
	wantRequested := all
	if f.ServerURL == s.cfg.GatewayURL() {
		wantRequested = strings.Join(scopeStrings(mcpv1alpha1.AllScopes()), " ")
	}
	wantConsents := 1
	if stepUp {
		wantConsents = 2
	}
	if len(f.Consents) != wantConsents || f.Consents[0].RequestedScope != wantRequested {
		t.Fatalf("consents %+v; want %d, the first asking for %q", f.Consents, wantConsents, wantRequested)
	}
	firstGrant := all
	if stepUp {
		firstGrant = "mcp.connect skills.read links.read"
	}
	if f.Consents[0].GrantedScope != firstGrant || f.FinalScope != all || f.Registrations != 1 {
		t.Errorf("granted %q, then %q after %d registrations; want %q, then %q, 1", f.Consents[0].GrantedScope, f.FinalScope, f.Registrations, firstGrant, all)
	}
	a, err := s.keys.Keys().VerifyAccess(f.FinalAccessToken, time.Now())
	if err != nil || a.Handle != handle || !strings.HasPrefix(f.FinalAccessToken, tokens.AccessPrefix) {
		t.Fatalf("access token %+v (%v)", a, err)
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
	if r := f.Read; r.IsError || len(r.Content) != 1 || r.StructuredContent["handle"] != handle {
		t.Errorf("list_links: %+v", r)
	}
	if r := f.Write; r.IsError || len(r.Content) != 1 || !strings.HasPrefix(r.Content[0].Text, "Created /sdk-") {
		t.Errorf("create_link: %+v", r)
	}
	if r := f.ReadAfter; r.IsError || r.StructuredContent["handle"] != handle {
		t.Errorf("list_links after create_link: %+v", r)
	}

	// The step-up, request by request: 403 with the challenge, the
	// refresh refused, a new authorization (the consent), the code
	// exchange, the call again.
	var trace []string
	for _, r := range f.WriteRequests {
		switch {
		case r.Method == http.MethodPost && r.URL == f.ServerURL:
			trace = append(trace, fmt.Sprintf("mcp %d", r.Status))
			if r.Status == http.StatusForbidden {
				for _, want := range []string{`error="insufficient_scope"`, `scope="` + all + `"`, `resource_metadata="` + prm + `"`} {
					if !strings.Contains(r.WWWAuthenticate, want) {
						t.Errorf("create_link: WWW-Authenticate %q; want %s", r.WWWAuthenticate, want)
					}
				}
			}
		case r.Method == http.MethodPost && r.URL == s.origin+"/oauth/token":
			trace = append(trace, fmt.Sprintf("token %d %s", r.Status, r.Error))
		}
	}
	want := []string{"mcp 200"}
	if stepUp {
		want = []string{"mcp 403", "token 400 invalid_grant", "token 200 ", "mcp 200"}
	}
	if !slices.Equal(trace, want) {
		t.Errorf("create_link: %q; want %q", trace, want)
	}
}

package endpoint

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

type handleMap map[string]*mcpv1alpha1.Handle

func (m handleMap) Handle(_ context.Context, name string) (*mcpv1alpha1.Handle, error) {
	return m[name], nil
}

// ConnectorScopes treats every handle as having no toolsets.
func (m handleMap) ConnectorScopes(_ context.Context, h *mcpv1alpha1.Handle) ([]mcpv1alpha1.Scope, error) {
	return h.ConnectorScopes(nil), nil
}

type grantSet map[string]bool

func (g grantSet) Active(_ context.Context, name string) (bool, error) { return g[name], nil }

type keyRing struct{ ks *tokens.KeySet }

func (k keyRing) Keys() *tokens.KeySet { return k.ks }

// toolScopes: every handle has the tool "links_create_link", which needs
// links.write.
type toolScopes struct{}

func (toolScopes) ToolScopes(_ *mcpv1alpha1.Handle, tool string) ([]mcpv1alpha1.Scope, bool) {
	if tool == "links_create_link" {
		return []mcpv1alpha1.Scope{"links.write"}, true
	}
	return nil, false
}

// ReadScopes: every handle has the prompt "links_summary" and the
// resources of "toolset:links:...", which need links.read.
func (toolScopes) ReadScopes(_ *mcpv1alpha1.Handle, prompt, uri string) ([]mcpv1alpha1.Scope, bool) {
	if prompt == "links_summary" || strings.HasPrefix(uri, "toolset:links:") {
		return []mcpv1alpha1.Scope{"links.read"}, true
	}
	return nil, false
}

// Await: the tools are there from the start.
func (toolScopes) Await(context.Context, *mcpv1alpha1.Handle, string) {}

type fixture struct {
	t      *testing.T
	cfg    *platform.Config
	ks     *tokens.KeySet
	grants grantSet
	srv    http.Handler
	now    time.Time
}

// newFixture serves acme, beta and frozen (suspended); configure may
// change the platform configuration and the handles first.
func newFixture(t *testing.T, configure ...func(*platform.Config, handleMap)) *fixture {
	t.Helper()
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := tokens.NewKeySet("k1", tokens.Key{ID: "k1", Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	handle := func(name string, suspended bool) *mcpv1alpha1.Handle {
		return &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: mcpv1alpha1.HandleSpec{Suspended: suspended}}
	}
	f := &fixture{t: t, cfg: cfg, ks: ks, grants: grantSet{"conn-a": true, "conn-b": true}, now: time.Now()}
	mcpServer := server.NewMCPServer("test", "1.0", server.WithToolCapabilities(false))
	// The tool answers with the handle it was called for, so tests see
	// which handle the endpoint served.
	mcpServer.AddTool(mcp.NewTool("links_create_link"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("created on " + principal.FromContext(ctx).Handle.Name), nil
	})
	handles := handleMap{"acme": handle("acme", false), "beta": handle("beta", false), "frozen": handle("frozen", true)}
	for _, c := range configure {
		c(cfg, handles)
	}
	e := &Endpoint{Config: cfg, Handles: handles, Grants: f.grants, Keys: keyRing{ks}, Tools: toolScopes{}, MCP: mcpServer, Now: func() time.Time { return f.now }}
	f.srv = e.Handler()
	return f
}

func (f *fixture) token(handle, grant string, scopes ...mcpv1alpha1.Scope) string {
	set, ok := tokens.NewScopeSet(scopes...)
	if !ok {
		f.t.Fatal("bad scopes")
	}
	tok, err := f.ks.MintAccess(tokens.Access{Handle: handle, Subject: "static#alice@example.com", ClientID: "c", Grant: grant, Scopes: set, Expiry: f.now.Add(time.Hour)})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func (f *fixture) fullToken(handle, grant string) string {
	return f.token(handle, grant, "mcp.connect", "skills.read", "links.read", "links.write")
}

// post sends one JSON-RPC message to an MCP URL.
func (f *fixture) post(rawURL, bearer, msg string, headers ...string) *http.Response {
	req := httptest.NewRequest("POST", rawURL, strings.NewReader(msg))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec.Result()
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

const createLink = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"links_create_link","arguments":{}}}`

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// errorOf returns the JSON error code of an endpoint error answer.
func errorOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	var b body
	raw := readBody(t, resp)
	var call toolResult
	if json.Unmarshal([]byte(raw), &call) == nil && call.Result.IsError {
		// The tool-result form: the code starts the text, the challenge is
		// the header's.
		if got := call.Result.Meta["mcp/www_authenticate"]; len(got) != 1 || got[0] != resp.Header.Get("WWW-Authenticate") || string(call.ID) != "2" {
			t.Errorf("tool result _meta %v, id %s; want the challenge of the header and the call's id", got, call.ID)
		}
		code, _, _ := strings.Cut(call.Result.Content[0]["text"], ":")
		return code
	}
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatalf("not a JSON error: %d %s", resp.StatusCode, raw)
	}
	return b.Error
}

func TestGuideErrors(t *testing.T) {
	f := newFixture(t)
	const hosted = "https://acme.mcp.10x.in/mcp"
	const hostedMetadata = `resource_metadata="https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp"`
	expired := f.fullToken("acme", "conn-a")
	f.now = f.now.Add(2 * time.Hour)
	cases := []struct {
		name, url, bearer, msg string
		headers                []string
		status                 int
		code                   string
		challenge              []string // substrings of WWW-Authenticate
	}{
		{"no bearer", hosted, "", initialize, nil, 401, oautherr.MissingBearerToken,
			[]string{hostedMetadata, `scope="mcp.connect skills.read"`, `error="missing_bearer_token"`}},
		{"no bearer, shared gateway", "https://ai.10x.in/mcp", "", initialize, nil, 401, oautherr.MissingBearerToken,
			[]string{`resource_metadata="https://ai.10x.in/.well-known/oauth-protected-resource/mcp"`}},
		{"no bearer, compatibility path", "https://ai.10x.in/mcp/acme/mcp", "", initialize, nil, 401, oautherr.MissingBearerToken,
			[]string{`resource_metadata="https://ai.10x.in/.well-known/oauth-protected-resource/mcp/acme/mcp"`}},
		{"a personal access token", hosted, "pat_0123456789", initialize, nil, 401, oautherr.InvalidTokenFormat, []string{hostedMetadata, `error="invalid_token_format"`}},
		{"expired", hosted, expired, initialize, nil, 401, oautherr.InvalidToken, []string{`error="invalid_token"`, "expired"}},
		{"forged", hosted, f.fullToken("acme", "conn-a") + "x", initialize, nil, 401, oautherr.InvalidToken, []string{`error="invalid_token"`}},
		{"revoked", hosted, f.fullToken("acme", "conn-gone"), initialize, nil, 401, oautherr.InvalidToken, []string{"revoked"}},
		{"token of another handle", hosted, f.fullToken("beta", "conn-b"), initialize, nil, 401, oautherr.TokenHandleMismatch, []string{"issued for the handle beta, not acme"}},
		{"token of another handle, compatibility path", "https://ai.10x.in/mcp/acme/mcp", f.fullToken("beta", "conn-b"), initialize, nil, 401, oautherr.TokenHandleMismatch, nil},
		{"unknown handle", "https://nobody.mcp.10x.in/mcp", f.fullToken("acme", "conn-a"), initialize, nil, 404, oautherr.HandleNotFound, nil},
		{"unknown handle without a token", "https://nobody.mcp.10x.in/mcp", "", initialize, nil, 404, oautherr.HandleNotFound, nil},
		{"suspended handle", "https://frozen.mcp.10x.in/mcp", f.fullToken("frozen", "conn-a"), initialize, nil, 403, oautherr.HandleSuspended, nil},
		{"foreign Origin", hosted, f.fullToken("acme", "conn-a"), initialize, []string{"Origin", "https://evil.example"}, 403, oautherr.ForbiddenOrigin, nil},
		{"no skills.read for tools/list", hosted, f.token("acme", "conn-a", "mcp.connect"), `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, 403, oautherr.InsufficientScope,
			[]string{`error="insufficient_scope"`, `scope="mcp.connect skills.read"`, hostedMetadata}},
		{"no skills.read for prompts/list", hosted, f.token("acme", "conn-a", "mcp.connect"), `{"jsonrpc":"2.0","id":1,"method":"prompts/list"}`, nil, 403, oautherr.InsufficientScope,
			[]string{`scope="mcp.connect skills.read"`}},
		{"no skills.read for resources/list", hosted, f.token("acme", "conn-a", "mcp.connect"), `{"jsonrpc":"2.0","id":1,"method":"resources/list"}`, nil, 403, oautherr.InsufficientScope,
			[]string{`scope="mcp.connect skills.read"`}},
		{"no skills.read for resources/templates/list", hosted, f.token("acme", "conn-a", "mcp.connect"), `{"jsonrpc":"2.0","id":1,"method":"resources/templates/list"}`, nil, 403, oautherr.InsufficientScope,
			[]string{`scope="mcp.connect skills.read"`}},
		{"no links.read for a prompt", hosted, f.token("acme", "conn-a", "mcp.connect", "skills.read"), `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"links_summary"}}`, nil, 403, oautherr.InsufficientScope,
			[]string{`scope="mcp.connect skills.read links.read"`, "re-authorize with links.read"}},
		{"no links.read for a resource", hosted, f.token("acme", "conn-a", "mcp.connect", "skills.read"), `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"toolset:links:links://all"}}`, nil, 403, oautherr.InsufficientScope,
			[]string{"re-authorize with links.read"}},
		{"no links.read to subscribe to a resource", hosted, f.token("acme", "conn-a", "mcp.connect", "skills.read"), `{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"toolset:links:links://all"}}`, nil, 403, oautherr.InsufficientScope,
			[]string{"re-authorize with links.read"}},
		{"no links.read to listen to a resource's updates", hosted, f.token("acme", "conn-a", "mcp.connect", "skills.read"),
			`{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"resourceSubscriptions":["toolset:links:links://all"]}}}`, nil, 403, oautherr.InsufficientScope,
			[]string{"re-authorize with links.read"}},
		{"no links.read to complete a prompt argument", hosted, f.token("acme", "conn-a", "mcp.connect", "skills.read"),
			`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"links_summary"},"argument":{"name":"a","value":""}}}`, nil, 403, oautherr.InsufficientScope,
			[]string{"re-authorize with links.read"}},
		{"no links.read to complete a resource template argument", hosted, f.token("acme", "conn-a", "mcp.connect", "skills.read"),
			`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"toolset:links:links://{id}"},"argument":{"name":"id","value":""}}}`, nil, 403, oautherr.InsufficientScope,
			[]string{"re-authorize with links.read"}},
		{"no links.write for a tool", hosted, f.token("acme", "conn-a", "mcp.connect", "skills.read", "links.read"), createLink, nil, 403, oautherr.InsufficientScope,
			[]string{`scope="mcp.connect skills.read links.read links.write"`, "re-authorize with links.write"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.post(tc.url, tc.bearer, tc.msg, tc.headers...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d; want %d: %s", resp.StatusCode, tc.status, readBody(t, resp))
			}
			if code := errorOf(t, resp); code != tc.code {
				t.Errorf("error %q; want %q", code, tc.code)
			}
			www := resp.Header.Get("WWW-Authenticate")
			if (tc.status == 401 || tc.code == oautherr.InsufficientScope) && !strings.HasPrefix(www, "Bearer ") {
				t.Errorf("no challenge: %q", www)
			}
			for _, want := range tc.challenge {
				if !strings.Contains(www, want) {
					t.Errorf("WWW-Authenticate %q lacks %q", www, want)
				}
			}
		})
	}
	f.now = time.Now()
}

func TestServesTheTokensHandle(t *testing.T) {
	f := newFixture(t)
	for _, url := range []string{"https://acme.mcp.10x.in/mcp", "https://ai.10x.in/mcp", "https://ai.10x.in/mcp/acme/mcp"} {
		resp := f.post(url, f.fullToken("acme", "conn-a"), createLink, "Mcp-Protocol-Version", "2025-11-25")
		body := readBody(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(body, "created on acme") {
			t.Errorf("%s: %d %s", url, resp.StatusCode, body)
		}
	}
	// On the shared gateway the token's handle decides.
	resp := f.post("https://ai.10x.in/mcp", f.fullToken("beta", "conn-b"), createLink, "Mcp-Protocol-Version", "2025-11-25")
	if body := readBody(t, resp); !strings.Contains(body, "created on beta") {
		t.Errorf("gateway with a beta token: %d %s", resp.StatusCode, body)
	}
	// Deleting the grant revokes its tokens at once.
	tok := f.fullToken("acme", "conn-a")
	f.grants["conn-a"] = false
	if resp := f.post("https://acme.mcp.10x.in/mcp", tok, initialize); resp.StatusCode != 401 {
		t.Errorf("a token of a deleted grant: %d", resp.StatusCode)
	}
}

func TestSessionsAreBoundToTheirHandle(t *testing.T) {
	f := newFixture(t)
	resp := f.post("https://acme.mcp.10x.in/mcp", f.fullToken("acme", "conn-a"), initialize)
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("initialize: %d %q %s", resp.StatusCode, id, readBody(t, resp))
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("session id %q is not visible ASCII", id)
		}
	}
	// The same session on its handle works, on another handle it does not.
	ping := `{"jsonrpc":"2.0","id":3,"method":"ping"}`
	if resp := f.post("https://acme.mcp.10x.in/mcp", f.fullToken("acme", "conn-a"), ping, "Mcp-Session-Id", id, "Mcp-Protocol-Version", "2025-11-25"); resp.StatusCode != 200 {
		t.Errorf("ping in the session: %d %s", resp.StatusCode, readBody(t, resp))
	}
	resp = f.post("https://beta.mcp.10x.in/mcp", f.fullToken("beta", "conn-b"), ping, "Mcp-Session-Id", id, "Mcp-Protocol-Version", "2025-11-25")
	if resp.StatusCode != 401 || errorOf(t, resp) != oautherr.SessionHandleMismatch {
		t.Errorf("a session of acme on beta: %d", resp.StatusCode)
	}
	if www := resp.Header.Get("WWW-Authenticate"); !strings.Contains(www, `error="session_handle_mismatch"`) {
		t.Errorf("challenge %q", www)
	}
	resp = f.post("https://acme.mcp.10x.in/mcp", f.fullToken("acme", "conn-a"), ping, "Mcp-Session-Id", "made-up", "Mcp-Protocol-Version", "2025-11-25")
	if resp.StatusCode != 404 {
		t.Errorf("an unknown session: %d", resp.StatusCode)
	}
}

func TestProtocolVersions(t *testing.T) {
	f := newFixture(t)
	tok := f.fullToken("acme", "conn-a")
	resp := f.post("https://acme.mcp.10x.in/mcp", tok, `{"jsonrpc":"2.0","id":3,"method":"ping"}`, "Mcp-Protocol-Version", "1999-01-01")
	if resp.StatusCode != 400 {
		t.Errorf("unknown protocol version: %d %s", resp.StatusCode, readBody(t, resp))
	}
	// 2026-07-28: stateless, Mcp-Method and Mcp-Name headers, server/discover.
	discover := `{"jsonrpc":"2.0","id":4,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}}}`
	resp = f.post("https://acme.mcp.10x.in/mcp", tok, discover, "Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "server/discover")
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "2026-07-28") || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Errorf("server/discover: %d session=%q %s", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), body)
	}
}

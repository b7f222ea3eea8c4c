package links_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"

	"github.com/10xdotin/mcp-handle-operator/examples/links"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
)

const issuer = "https://ai.10x.in"

// fixture is the runtime's JWK Set and a Links server that trusts it.
type fixture struct {
	secret    *corev1.Secret
	minter    *upstream.Minter
	jwks      *httptest.Server
	jwksHits  atomic.Int32
	links     *httptest.Server
	audience  string
	readWrite []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{readWrite: []string{links.ScopeRead, links.ScopeWrite}}
	var err error
	if f.secret, err = upstream.NewKeySecret("mcp-system", upstream.DefaultSecretName, time.Now()); err != nil {
		t.Fatal(err)
	}
	if f.minter, err = upstream.NewMinter(issuer, f.secret); err != nil {
		t.Fatal(err)
	}
	f.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.jwksHits.Add(1)
		f.minter.ServeJWKS(w, r)
	}))
	t.Cleanup(f.jwks.Close)
	// The audience is the server's own URL, known once it listens.
	var handler atomic.Pointer[http.Handler]
	f.links = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(f.links.Close)
	f.audience = f.links.URL + "/mcp"
	h := (&links.Server{Verifier: &links.Verifier{Issuer: issuer, Audience: f.audience,
		Keys: &links.KeySet{URL: f.jwks.URL, MinRefetch: time.Nanosecond}}}).Handler()
	handler.Store(&h)
	return f
}

func (f *fixture) token(t *testing.T, handle, subject string, scopes []string) string {
	t.Helper()
	tok, err := f.minter.Mint(f.audience, upstream.Claims{Handle: handle, Subject: subject, ClientID: "acme-chatgpt", Grant: "g1", Scopes: scopes}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func connect(t *testing.T, url, token string, options ...client.ClientOption) (*client.Client, string) {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, options...)
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ClientInfo: mcp.Implementation{Name: "test", Version: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	return c, res.ProtocolVersion
}

func call(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := c.CallTool(context.Background(), mcp.CallToolRequest{Params: mcp.CallToolParams{Name: name, Arguments: args}})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// paths returns the paths of a list_links result.
func paths(t *testing.T, res *mcp.CallToolResult) []string {
	t.Helper()
	if res.IsError {
		t.Fatalf("list_links failed: %s", text(res))
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var out struct {
		Links []links.Link `json:"links"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	ps := []string{}
	for _, l := range out.Links {
		ps = append(ps, l.Path+" "+l.Target)
	}
	return ps
}

func TestLinksThroughMCPClient(t *testing.T) {
	for version, options := range map[string][]client.ClientOption{
		"2026-07-28": nil,                                        // the stateless core, server/discover
		"2025-06-18": {client.WithProtocolVersion("2025-06-18")}, // initialize
	} {
		t.Run(version, func(t *testing.T) {
			f := newFixture(t)
			c, negotiated := connect(t, f.audience, f.token(t, "acme", "alice@example.com", f.readWrite), options...)
			if negotiated != version {
				t.Fatalf("negotiated %s, want %s", negotiated, version)
			}

			tools, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			hints := map[string]string{}
			for _, tool := range tools.Tools {
				a := tool.Annotations
				hints[tool.Name] = hint(a.ReadOnlyHint) + "/" + hint(a.DestructiveHint)
			}
			want := map[string]string{"list_links": "true/false", "create_link": "false/false", "delete_link": "false/true"}
			if len(hints) != 3 || hints["list_links"] != want["list_links"] || hints["create_link"] != want["create_link"] || hints["delete_link"] != want["delete_link"] {
				t.Errorf("tools (readOnly/destructive) %v, want %v", hints, want)
			}

			if got := paths(t, call(t, c, "list_links", nil)); len(got) != 0 {
				t.Fatalf("a new handle has links %v", got)
			}
			res := call(t, c, "create_link", map[string]any{"path": "/sale", "target": "https://shop.example/sale?c=1"})
			if res.IsError {
				t.Fatalf("create_link: %s", text(res))
			}
			if got := paths(t, call(t, c, "list_links", nil)); len(got) != 1 || got[0] != "/sale https://shop.example/sale?c=1" {
				t.Fatalf("after create: %v", got)
			}
			if res := call(t, c, "create_link", map[string]any{"path": "/sale", "target": "https://other.example"}); !res.IsError {
				t.Error("a second link at /sale was created")
			}
			if res := call(t, c, "delete_link", map[string]any{"path": "/sale"}); res.IsError {
				t.Fatalf("delete_link: %s", text(res))
			}
			if got := paths(t, call(t, c, "list_links", nil)); len(got) != 0 {
				t.Fatalf("after delete: %v", got)
			}
			if res := call(t, c, "delete_link", map[string]any{"path": "/sale"}); !res.IsError || !strings.Contains(text(res), "no link at /sale") {
				t.Errorf("deleting a missing link: %v %s", res.IsError, text(res))
			}
		})
	}
}

func hint(b *bool) string {
	if b == nil {
		return "unset"
	}
	if *b {
		return "true"
	}
	return "false"
}

func TestCreateLinkValidates(t *testing.T) {
	f := newFixture(t)
	c, _ := connect(t, f.audience, f.token(t, "acme", "alice@example.com", f.readWrite))
	for _, args := range []map[string]any{
		{"path": "sale", "target": "https://shop.example"},
		{"path": "/", "target": "https://shop.example"},
		{"path": "/a b", "target": "https://shop.example"},
		{"path": "/a//b", "target": "https://shop.example"},
		{"path": "/../admin", "target": "https://shop.example"},
		{"path": "/" + strings.Repeat("x", 200), "target": "https://shop.example"},
		{"path": "/sale", "target": "javascript:alert(1)"},
		{"path": "/sale", "target": "/relative"},
		{"path": "/sale", "target": "https://user:pw@shop.example"},
		{"path": "/sale", "target": "https://"},
		{"path": "/sale"},
	} {
		if res := call(t, c, "create_link", args); !res.IsError {
			t.Errorf("%v: created", args)
		}
	}
	if got := paths(t, call(t, c, "list_links", nil)); len(got) != 0 {
		t.Errorf("invalid links were stored: %v", got)
	}
	if res := call(t, c, "create_link", map[string]any{"path": "/docs/v2.1_a-b~c", "target": "http://docs.example:8080/x"}); res.IsError {
		t.Errorf("a valid link was refused: %s", text(res))
	}
}

func TestHandlesAreIsolated(t *testing.T) {
	f := newFixture(t)
	a, _ := connect(t, f.audience, f.token(t, "acme", "alice@example.com", f.readWrite))
	b, _ := connect(t, f.audience, f.token(t, "globex", "bob@example.com", f.readWrite))
	if res := call(t, a, "create_link", map[string]any{"path": "/sale", "target": "https://acme.example/sale"}); res.IsError {
		t.Fatal(text(res))
	}
	if got := paths(t, call(t, b, "list_links", nil)); len(got) != 0 {
		t.Errorf("globex sees acme's links: %v", got)
	}
	if res := call(t, b, "delete_link", map[string]any{"path": "/sale"}); !res.IsError {
		t.Error("globex deleted acme's link")
	}
	// The same path on another handle is another link.
	if res := call(t, b, "create_link", map[string]any{"path": "/sale", "target": "https://globex.example/sale"}); res.IsError {
		t.Fatal(text(res))
	}
	if got := paths(t, call(t, a, "list_links", nil)); len(got) != 1 || got[0] != "/sale https://acme.example/sale" {
		t.Errorf("acme's links: %v", got)
	}
}

func TestScopes(t *testing.T) {
	f := newFixture(t)
	reader, _ := connect(t, f.audience, f.token(t, "acme", "alice@example.com", []string{links.ScopeRead}))
	writer, _ := connect(t, f.audience, f.token(t, "acme", "alice@example.com", []string{links.ScopeWrite}))
	if res := call(t, writer, "create_link", map[string]any{"path": "/sale", "target": "https://acme.example"}); res.IsError {
		t.Fatal(text(res))
	}
	for _, tc := range []struct {
		c    *client.Client
		tool string
		args map[string]any
		want string
	}{
		{reader, "create_link", map[string]any{"path": "/x", "target": "https://acme.example"}, "create_link needs links.write"},
		{reader, "delete_link", map[string]any{"path": "/sale"}, "delete_link needs links.write"},
		{writer, "list_links", nil, "list_links needs links.read"},
	} {
		res := call(t, tc.c, tc.tool, tc.args)
		if !res.IsError || !strings.Contains(text(res), "insufficient scope: "+tc.want) {
			t.Errorf("%s: error=%v %q", tc.tool, res.IsError, text(res))
		}
	}
	if got := paths(t, call(t, reader, "list_links", nil)); len(got) != 1 {
		t.Errorf("the refused calls changed the links: %v", got)
	}
}

// post sends an MCP ping with the given Authorization header.
func post(t *testing.T, url, authorization string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestTokensRefused(t *testing.T) {
	f := newFixture(t)
	mint := func(aud string, now time.Time, m *upstream.Minter) string {
		tok, err := m.Mint(aud, upstream.Claims{Handle: "acme", Subject: "alice", ClientID: "c", Scopes: f.readWrite}, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	secret, _ := upstream.NewKeySecret("mcp-system", "other", time.Now())
	foreign, err := upstream.NewMinter(issuer, secret)
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer, err := upstream.NewMinter("https://evil.example", secret)
	if err != nil {
		t.Fatal(err)
	}
	// The same keys as the runtime, another issuer.
	sameKeys, err := upstream.NewMinter("https://evil.example", f.secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, authorization, want string
	}{
		{"missing", "", "needs Authorization: Bearer"},
		{"not bearer", "Basic YWxpY2U6cHc=", "needs Authorization: Bearer"},
		{"garbage", "Bearer abc.def.ghi", "not an ES256 JWT"},
		{"wrong audience", "Bearer " + mint("https://other.example/mcp", time.Now(), f.minter), "audience"},
		{"expired", "Bearer " + mint(f.audience, time.Now().Add(-2*time.Minute), f.minter), "expired"},
		{"another key set", "Bearer " + mint(f.audience, time.Now(), foreign), "unknown key id"},
		{"another issuer, its own keys", "Bearer " + mint(f.audience, time.Now(), otherIssuer), "unknown key id"},
		{"another issuer, the runtime's keys", "Bearer " + mint(f.audience, time.Now(), sameKeys), "issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := post(t, f.audience, tc.authorization)
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d: %s", status, body)
			}
			if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(body, tc.want) {
				t.Errorf("WWW-Authenticate %q, body %s; want %q", h.Get("WWW-Authenticate"), body, tc.want)
			}
		})
	}
	// A valid token passes the same request.
	if status, _, body := post(t, f.audience, "Bearer "+mint(f.audience, time.Now(), f.minter)); status != http.StatusOK {
		t.Errorf("a valid token: %d %s", status, body)
	}
	// The mcp-go client is refused too.
	tr, _ := transport.NewStreamableHTTP(f.audience)
	c := client.NewClient(tr)
	defer func() { _ = c.Close() }()
	_ = c.Start(context.Background())
	if _, err := c.Initialize(context.Background(), mcp.InitializeRequest{}); err == nil {
		t.Error("a client without a token initialized")
	}
}

// TestRotation: a token signed with a key the cached JWK Set lacks makes the
// server fetch the set again; known keys are served from the cache.
func TestRotation(t *testing.T) {
	f := newFixture(t)
	if status, _, body := post(t, f.audience, "Bearer "+f.token(t, "acme", "alice", f.readWrite)); status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	if status, _, _ := post(t, f.audience, "Bearer "+f.token(t, "acme", "alice", f.readWrite)); status != http.StatusOK {
		t.Fatal(status)
	}
	if n := f.jwksHits.Load(); n != 1 {
		t.Errorf("the JWK Set was fetched %d times for one key", n)
	}
	kid, key, err := upstream.NewKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rotated := f.secret.DeepCopy()
	rotated.Data[kid] = key
	rotated.Annotations[upstream.CurrentKeyAnnotation] = kid
	if err := f.minter.Update(rotated); err != nil {
		t.Fatal(err)
	}
	if status, _, body := post(t, f.audience, "Bearer "+f.token(t, "acme", "alice", f.readWrite)); status != http.StatusOK {
		t.Fatalf("a token of the new key: %d %s", status, body)
	}
	if n := f.jwksHits.Load(); n != 2 {
		t.Errorf("the JWK Set was fetched %d times, want 2", n)
	}
}

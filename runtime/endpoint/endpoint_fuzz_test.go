package endpoint

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// fuzzEndpoint is the endpoint of newFixture for fuzz targets, with a tool
// that counts its calls.
type fuzzEndpoint struct {
	srv   http.Handler
	ks    *tokens.KeySet
	now   time.Time
	calls atomic.Int64
}

func newFuzzEndpoint(f *testing.F) *fuzzEndpoint {
	f.Helper()
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		f.Fatal(err)
	}
	ks, err := tokens.NewKeySet("k1", tokens.Key{ID: "k1", Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		f.Fatal(err)
	}
	// The clock stands still: any rate limit would end the run in 429s.
	cfg.RateLimits = platform.RateLimits{}
	fe := &fuzzEndpoint{ks: ks, now: time.Unix(1_800_000_000, 0)}
	mcpServer := server.NewMCPServer("test", "1.0", server.WithToolCapabilities(false))
	mcpServer.AddTool(mcp.NewTool("links_create_link"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		fe.calls.Add(1)
		return mcp.NewToolResultText("created"), nil
	})
	handles := handleMap{"acme": {ObjectMeta: metav1.ObjectMeta{Name: "acme"}}, "beta": {ObjectMeta: metav1.ObjectMeta{Name: "beta"}}}
	e := &Endpoint{Config: cfg, Handles: handles, Grants: grantSet{"conn-a": true, "conn-b": true}, Keys: keyRing{ks}, Tools: toolScopes{},
		MCP: mcpServer, Now: func() time.Time { return fe.now }}
	fe.srv = e.Handler()
	return fe
}

func (fe *fuzzEndpoint) mint(f *testing.F, handle, grant string, scopes ...mcpv1alpha1.Scope) string {
	f.Helper()
	set, _ := tokens.NewScopeSet(scopes...)
	tok, err := fe.ks.MintAccess(tokens.Access{Handle: handle, Subject: "static#alice@example.com", ClientID: "c", Grant: grant, Scopes: set, Expiry: fe.now.Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	return tok
}

func (fe *fuzzEndpoint) post(url, authorization, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if authorization != "\x00" {
		req.Header["Authorization"] = []string{authorization}
	}
	rec := httptest.NewRecorder()
	fe.srv.ServeHTTP(rec, req)
	return rec
}

// checkChallenge asserts that a 401 (and a 403 insufficient_scope) carries a
// Bearer challenge that parses, names the resource's metadata and the code
// of the body.
func checkChallenge(t *testing.T, rec *httptest.ResponseRecorder, metadata string) {
	t.Helper()
	var b body
	_ = json.Unmarshal(rec.Body.Bytes(), &b)
	if rec.Code != http.StatusUnauthorized && (rec.Code != http.StatusForbidden || b.Error != oautherr.InsufficientScope) {
		return
	}
	cs, err := connect.ParseWWWAuthenticate(rec.Result().Header.Values("WWW-Authenticate"))
	bearer, ok := connect.Bearer(cs)
	if err != nil || !ok {
		t.Fatalf("%d without a Bearer challenge that parses: %q (%v)", rec.Code, rec.Header().Get("WWW-Authenticate"), err)
	}
	if bearer.ResourceMetadata != metadata || bearer.Error == "" {
		t.Fatalf("challenge %+v, want resource_metadata %q and an error", bearer, metadata)
	}
}

// FuzzBearer sends any Authorization header value to the hosted endpoint
// of acme. Only "Bearer" (any case) and a token the key minted for acme get
// through; everything else is a 401 with one of the guide's codes and a
// challenge that parses; nothing is a 5xx.
func FuzzBearer(f *testing.F) {
	fe := newFuzzEndpoint(f)
	good := fe.mint(f, "acme", "conn-a", "mcp.connect", "skills.read", "links.write")
	beta := fe.mint(f, "beta", "conn-b", "mcp.connect", "skills.read", "links.write")
	revoked := fe.mint(f, "acme", "conn-gone", "mcp.connect")
	for _, s := range []string{
		"Bearer " + good, "bearer " + good, "BEARER  " + good + " ", "Bearer\t" + good, "Basic " + good, "Bearer " + good + "x",
		"Bearer " + beta, "Bearer " + revoked, "Bearer", "Bearer ", "\x00", "", "Bearer mcpv1_", "Bearer pat_123",
		"Bearer " + good[:len(good)-1], "Bearer " + strings.ToUpper(good), "Bearer " + good + " " + good, "Bearer mcpv1_AQ.AAAA",
		"Bearer " + strings.Replace(good, ".", "..", 1),
	} {
		f.Add(s)
	}
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	codes := map[string]bool{oautherr.MissingBearerToken: true, oautherr.InvalidTokenFormat: true, oautherr.InvalidToken: true, oautherr.TokenHandleMismatch: true}
	f.Fuzz(func(t *testing.T, authorization string) {
		rec := fe.post("https://acme.mcp.10x.in/mcp", authorization, initialize)
		scheme, token, _ := strings.Cut(authorization, " ")
		accepted := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) == good
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", authorization, rec.Code, rec.Body)
		}
		if accepted != (rec.Code == http.StatusOK) {
			t.Fatalf("%q: %d %s (accepted %v)", authorization, rec.Code, rec.Body, accepted)
		}
		if accepted {
			return
		}
		var b body
		if rec.Code != http.StatusUnauthorized || json.Unmarshal(rec.Body.Bytes(), &b) != nil || !codes[b.Error] {
			t.Fatalf("%q: %d %s, want 401 with one of the guide's codes", authorization, rec.Code, rec.Body)
		}
		checkChallenge(t, rec, "https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp")
	})
}

// FuzzScopeCheck posts any body with a token that has mcp.connect only: it
// never reaches a tool (links_create_link needs links.write) nor lists tools
// (skills.read), whatever JSON tricks the body plays (case-folded or
// repeated keys, wrong types, batches, nesting).
func FuzzScopeCheck(f *testing.F) {
	fe := newFuzzEndpoint(f)
	connectOnly := fe.mint(f, "acme", "conn-a", "mcp.connect")
	init := fe.post("https://acme.mcp.10x.in/mcp", "Bearer "+connectOnly,
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	session := init.Header().Get("Mcp-Session-Id")
	if init.Code != 200 || session == "" {
		f.Fatalf("initialize: %d %s", init.Code, init.Body)
	}
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"links_create_link","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"name":5}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"links_create_link","NAME":5,"arguments":{}}}`,
		`{"jsonrpc":"2.0","id":2,"METHOD":"tools/call","params":{"Name":"links_create_link"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"ping","method":"tools/call","params":{"name":"x","name":"links_create_link"}}`,
		`[{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"links_create_link"}}]`,
		` {"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"links_create_link"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"links_create_link","arguments":[[[[[[[[[[1]]]]]]]]]]}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"links_create_link"},"id":3}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/cal\u006c","params":{"name":"links_create_lin\u006b"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		before := fe.calls.Load()
		req := httptest.NewRequest("POST", "https://acme.mcp.10x.in/mcp", strings.NewReader(msg))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		req.Header.Set("Authorization", "Bearer "+connectOnly)
		req.Header.Set("Mcp-Session-Id", session)
		rec := httptest.NewRecorder()
		fe.srv.ServeHTTP(rec, req)
		if fe.calls.Load() != before {
			t.Fatalf("a token without links.write called links_create_link with %q: %d %s", msg, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), `"tools":[`) {
			t.Fatalf("a token without skills.read listed the tools with %q: %s", msg, rec.Body)
		}
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", msg, rec.Code, rec.Body)
		}
		checkChallenge(t, rec, "https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp")
	})
}

// FuzzChallenge checks the WWW-Authenticate builder: whatever description
// goes in, the header parses back with internal/connect's parser as one
// Bearer challenge that keeps every parameter: the resource metadata URL,
// the scopes, the error code and the description (quotes, backslashes and
// non-ASCII bytes replaced, nothing else changed).
func FuzzChallenge(f *testing.F) {
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"the token is invalid", `say "hi" \ bye`, "line\r\nWWW-Authenticate: Basic realm=x", "caf\u00e9 \xff\x00", `", error="none`, "",
		"a\\\"b", "\t tab", strings.Repeat("x", 300),
	} {
		f.Add(s, "acme", uint8(3))
	}
	f.Fuzz(func(t *testing.T, description, handle string, scopeBits uint8) {
		res := platform.Resource{Kind: platform.ResourceHosted, Handle: "acme", URL: cfg.HostedURL("acme")}
		if r, ok := cfg.ResourceAt("ai.10x.in", "/mcp/"+handle+"/mcp"); ok {
			res = r
		}
		all := mcpv1alpha1.AllScopes()
		var scopes []mcpv1alpha1.Scope
		for i := 0; i < 8 && i < len(all); i++ {
			if scopeBits&(1<<i) != 0 {
				scopes = append(scopes, all[i])
			}
		}
		www := challenge(res, oautherr.InvalidToken, description, scopes)
		cs, err := connect.ParseWWWAuthenticate([]string{www})
		if err != nil || len(cs) != 1 {
			t.Fatalf("%q does not parse as one challenge: %v %d", www, err, len(cs))
		}
		b, ok := connect.Bearer(cs)
		if !ok {
			t.Fatalf("%q: no Bearer challenge", www)
		}
		if b.ResourceMetadata != res.MetadataURL() || b.Error != oautherr.InvalidToken || b.ErrorDescription != quotable(description) {
			t.Fatalf("%q parsed as %+v", www, b)
		}
		if got, want := strings.Join(b.Scope, " "), joinScopes(scopes); got != want {
			t.Fatalf("%q: scope %q, want %q", www, got, want)
		}
		if len(cs[0].Params) != 3+min(len(scopes), 1) {
			t.Fatalf("%q: parameters %v", www, cs[0].Params)
		}
		// The description keeps every printable ASCII character but the
		// two a quoted string cannot hold bare.
		for i, r := range []rune(description) {
			if r >= 0x20 && r <= 0x7e && r != '"' && r != '\\' && []rune(b.ErrorDescription)[i] != r {
				t.Fatalf("%q: character %d changed in %q", description, i, b.ErrorDescription)
			}
		}
	})
}

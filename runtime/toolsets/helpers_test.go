package toolsets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunSuite(m, &env)) }

// clientToken is the MCP client's own bearer; no upstream may ever see it.
const clientToken = "mcpv1_the-clients-own-token"

// seen is one request an upstream received.
type seen struct {
	method, auth string
}

// fakeUpstream is an upstream MCP server (mcp-go, Streamable HTTP) that
// records every request's JSON-RPC method and Authorization header; hook,
// when set, may answer a request instead of the server.
type fakeUpstream struct {
	*httptest.Server
	mcp *server.MCPServer

	mu   sync.Mutex
	seen []seen
	hook func(w http.ResponseWriter, method string) bool
}

func startUpstream(t *testing.T, tools ...server.ServerTool) *fakeUpstream {
	t.Helper()
	u := startServer(t, server.NewMCPServer("upstream", "1.0.0", server.WithToolCapabilities(true)))
	u.mcp.AddTools(tools...)
	return u
}

// startServer serves an upstream MCP server as a fakeUpstream.
func startServer(t *testing.T, upstreamServer *server.MCPServer, options ...server.StreamableHTTPOption) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{mcp: upstreamServer}
	h := server.NewStreamableHTTPServer(u.mcp, options...)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &msg)
		u.mu.Lock()
		u.seen = append(u.seen, seen{method: r.Method + " " + msg.Method, auth: r.Header.Get("Authorization")})
		hook := u.hook
		u.mu.Unlock()
		if hook != nil && hook(w, msg.Method) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *fakeUpstream) setHook(hook func(w http.ResponseWriter, method string) bool) {
	u.mu.Lock()
	u.hook = hook
	u.mu.Unlock()
}

func (u *fakeUpstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.seen...)
}

// the upstream tools of the tests.
func echoTool(name string, readOnly *bool) server.ServerTool {
	opts := []mcp.ToolOption{mcp.WithDescription("the " + name + " tool"), mcp.WithString("q")}
	if readOnly != nil {
		opts = append(opts, mcp.WithReadOnlyHintAnnotation(*readOnly))
	}
	return server.ServerTool{Tool: mcp.NewTool(name, opts...), Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(name + ":" + req.GetString("q", "")), nil
	}}
}

func ptr[T any](v T) *T { return &v }

// newMinter returns a real upstream token minter with a fresh key.
func newMinter(t *testing.T) *upstream.Minter {
	t.Helper()
	secret, err := upstream.NewKeySecret("mcp-system", "keys", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := upstream.NewMinter("https://issuer.test", secret)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// verify checks a bearer header's JWT against the minter's keys and returns
// its claims.
func verify(t *testing.T, m *upstream.Minter, auth string) upstream.TokenClaims {
	t.Helper()
	raw, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		t.Fatalf("Authorization %q is not a bearer", auth)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("upstream token does not parse: %v", err)
	}
	var keys jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &keys); err != nil {
		t.Fatal(err)
	}
	var claims upstream.TokenClaims
	if err := tok.Claims(&keys, &claims); err != nil {
		t.Fatalf("upstream token does not verify: %v", err)
	}
	return claims
}

// newManager returns a Manager on a fresh MCP server, reading and writing
// Toolsets on the real apiserver.
func newManager(t *testing.T, minter toolsets.Minter) *toolsets.Manager {
	t.Helper()
	m := &toolsets.Manager{Reader: env.Client, Writer: env.Client, Minter: minter, RetryInterval: 200 * time.Millisecond}
	m.Server = server.NewMCPServer("runtime", "1.0.0", m.ServerOptions(&server.Hooks{})...)
	m.Register()
	t.Cleanup(m.Stop)
	return m
}

// handle returns a handle object naming toolsets (not stored anywhere: the
// principal carries it).
func handle(name string, toolsetNames ...string) *mcpv1alpha1.Handle {
	h := &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, n := range toolsetNames {
		h.Spec.Toolsets = append(h.Spec.Toolsets, mcpv1alpha1.ToolsetReference{Name: n})
	}
	return h
}

// principalCtx is a request of alice through client-1 on h.
func principalCtx(h *mcpv1alpha1.Handle) context.Context {
	scopes, _ := tokens.NewScopeSet(mcpv1alpha1.ScopeMCPConnect, mcpv1alpha1.ScopeLinksRead)
	return principal.NewContext(context.Background(), &principal.Principal{Handle: h, Token: tokens.Access{
		Handle: h.Name, Subject: "https://idp.test#alice", ClientID: "client-1", Grant: "grant-1", Scopes: scopes,
	}})
}

// serve puts m's MCP server behind HTTP; a request's principal is the
// handle named by its X-Test-Handle header (none without it), standing in
// for the endpoint's bearer check.
func serve(t *testing.T, m *toolsets.Manager, handles ...*mcpv1alpha1.Handle) *httptest.Server {
	t.Helper()
	byName := map[string]*mcpv1alpha1.Handle{}
	for _, h := range handles {
		byName[h.Name] = h
	}
	srv := httptest.NewServer(server.NewStreamableHTTPServer(m.Server, server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
		h := byName[r.Header.Get("X-Test-Handle")]
		if h == nil {
			return ctx
		}
		p := principal.FromContext(principalCtx(h))
		return principal.NewContext(ctx, p)
	})))
	t.Cleanup(srv.Close)
	return srv
}

// connect returns an MCP client of the runtime for a handle ("" for none),
// sending the client's own token as its bearer.
func connect(t *testing.T, srv *httptest.Server, handleName string) *mcpclient.Client {
	t.Helper()
	headers := map[string]string{"Authorization": "Bearer " + clientToken}
	if handleName != "" {
		headers["X-Test-Handle"] = handleName
	}
	c, err := mcpclient.NewStreamableHttpClient(srv.URL, transport.WithHTTPHeaders(headers))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(ctx, mcp.InitializeRequest{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func listNames(t *testing.T, c *mcpclient.Client) []string {
	t.Helper()
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	return out
}

// createToolset stores a Toolset; the test deletes it when done.
func createToolset(t *testing.T, name string, spec mcpv1alpha1.ToolsetSpec) *mcpv1alpha1.Toolset {
	t.Helper()
	ts := &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := env.Client.Create(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Client.Delete(context.Background(), ts); err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	})
	return ts
}

func getToolset(t *testing.T, name string) *mcpv1alpha1.Toolset {
	t.Helper()
	ts := &mcpv1alpha1.Toolset{}
	if err := env.Client.Get(context.Background(), toKey(name), ts); err != nil {
		t.Fatal(err)
	}
	return ts
}

// updateToolset changes a Toolset's spec, retrying when the runtime's
// status write got in between.
func updateToolset(t *testing.T, name string, change func(*mcpv1alpha1.Toolset)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ts := getToolset(t, name)
		change(ts)
		return env.Client.Update(context.Background(), ts)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// callText calls a registered tool's handler directly, as the server would
// after its filter, and returns the result's text and isError.
func callText(t *testing.T, m *toolsets.Manager, ctx context.Context, name string, args map[string]any) (string, bool) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	return callTextOf(t, m, ctx, req)
}

// callTextOf is callText with a whole request.
func callTextOf(t *testing.T, m *toolsets.Manager, ctx context.Context, req mcp.CallToolRequest) (string, bool) {
	t.Helper()
	name := req.Params.Name
	tool := m.Server.GetTool(name)
	if tool == nil {
		t.Fatalf("tool %s is not registered", name)
	}
	res, err := tool.Handler(ctx, req)
	if err != nil {
		t.Fatalf("%s: handler error %v (want a tool result)", name, err)
	}
	return resultText(res), res.IsError
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		b.WriteString(mcp.GetTextFromContent(c))
	}
	return b.String()
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

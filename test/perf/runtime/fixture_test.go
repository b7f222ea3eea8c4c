package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/examples/links"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

// The in-process benchmarks serve the runtime exactly as cmd/runtime wires
// it (runtime.Server's mux, the endpoint's checks, one mcp-go server with the
// toolsets manager's filter and the bootstrap hooks, the upstream minter and
// mcp-go client), on a real loopback listener. Only the informer cache is
// replaced: memReader returns deep copies of its objects, as the
// controller-runtime cache does on every Get.

const (
	benchHandleName = "acme"
	toolsetName     = "links"
	grantName       = "acme-grant-1"
	hostedHost      = "acme.mcp.10x.in"
	protocol        = "2025-11-25"
)

// memReader is a client.Reader over fixed objects, copying on Get like the
// informer cache.
type memReader struct{ objs map[string]client.Object }

func objKey(o client.Object, name string) string { return fmt.Sprintf("%T/%s", o, name) }

func newMemReader(objs ...client.Object) *memReader {
	m := &memReader{objs: map[string]client.Object{}}
	for _, o := range objs {
		m.objs[objKey(o, o.GetName())] = o
	}
	return m
}

func (m *memReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	src, ok := m.objs[objKey(obj, key.Name)]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", obj)}, key.Name)
	}
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(src.DeepCopyObject()).Elem())
	return nil
}

func (m *memReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return fmt.Errorf("memReader: List is not supported")
}

type staticKeys struct{ ks *tokens.KeySet }

func (s staticKeys) Keys() *tokens.KeySet { return s.ks }

// noRecorder stands in for the grant store's recorders; the grant's status
// says discovery was recorded just now and the connection bootstrapped, so
// the hook and the bootstrap check only read it.
type noRecorder struct{}

func (noRecorder) RecordDiscovery(context.Context, string, int, error) error { return nil }
func (noRecorder) RecordStep(context.Context, string, mcpv1alpha1.ConnectionBootstrapStep) error {
	return nil
}

// fixture is a runtime, an upstream, a plain reverse proxy to the same
// upstream and a bare handler, each on its own loopback listener.
type fixture struct {
	client *http.Client
	// runtimeURL serves the runtime (requests carry Host hostedHost),
	// proxyURL an httputil.ReverseProxy to the upstream's /mcp, bareURL the
	// bare handler.
	runtimeURL, proxyURL, bareURL string
	// access is the client's mcpv1_ token, session its MCP session.
	access, session string
	// upstreamToken is what a client of the plain proxy sends: a token the
	// upstream accepts, minted once.
	upstreamToken string
	// upstreamTool is the tool's name at the upstream, runtimeTool its name
	// in the runtime.
	upstreamTool, runtimeTool string
	bare                      *bareHandler
}

// bareHandler writes fixed response bytes and headers.
type bareHandler struct {
	header http.Header
	body   []byte
}

func (h *bareHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	for k, v := range h.header {
		w.Header()[k] = v
	}
	_, _ = w.Write(h.body)
}

// echoUpstream is the cheapest possible upstream: an mcp-go server
// (stateless Streamable HTTP, like the Links toolset) with one read-only
// tool and no token check, so the runtime's own cost is not hidden behind
// the upstream's.
func echoUpstream() http.Handler {
	m := mcpserver.NewMCPServer("echo", "0.1.0", mcpserver.WithToolCapabilities(false))
	m.AddTool(mcp.NewTool("list_links", mcp.WithDescription("Returns a fixed text."), mcp.WithReadOnlyHintAnnotation(true)),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(`[{"path":"/sale","target":"https://example.com/sale"}]`), nil
		})
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcpserver.NewStreamableHTTPServer(m, mcpserver.WithStateLess(true), mcpserver.WithDisableLocalhostProtection(true)))
	return mux
}

// newFixture starts everything. kind is "links" (the example Links toolset,
// which verifies the ES256 token of every call against the runtime's JWK
// Set) or "echo" (echoUpstream).
func newFixture(tb testing.TB, kind string) *fixture {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	cfg, err := platform.Load(filepath.Join(controlplane.RepoRoot(), "config", "platform", "platform.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	secret, err := upstream.NewKeySecret(cfg.Namespace, upstream.DefaultSecretName, now)
	if err != nil {
		tb.Fatal(err)
	}
	minter, err := upstream.NewMinter(cfg.Issuer, secret)
	if err != nil {
		tb.Fatal(err)
	}
	// The proxy's client holds one token for the whole run.
	longMinter, err := upstream.NewMinter(cfg.Issuer, secret)
	if err != nil {
		tb.Fatal(err)
	}
	longMinter.Lifetime = 24 * time.Hour

	// The upstream, on loopback.
	up := httptest.NewUnstartedServer(nil)
	switch kind {
	case "links":
		jwks := httptest.NewServer(http.HandlerFunc(minter.ServeJWKS))
		tb.Cleanup(jwks.Close)
		ls := &links.Server{Log: slog.New(slog.DiscardHandler)}
		ls.Verifier = &links.Verifier{Issuer: cfg.Issuer, Audience: "http://" + up.Listener.Addr().String() + "/mcp", Keys: &links.KeySet{URL: jwks.URL}}
		up.Config.Handler = ls.Handler()
	case "echo":
		up.Config.Handler = echoUpstream()
	default:
		tb.Fatalf("unknown upstream %q", kind)
	}
	up.Start()
	tb.Cleanup(up.Close)
	upstreamMCP := up.URL + "/mcp"

	// The objects the runtime reads from its cache: the handle, its
	// Toolset and the grant, with a status as a bootstrapped grant has.
	toolCount := int32(3)
	if kind == "echo" {
		toolCount = 1
	}
	scopes := []mcpv1alpha1.Scope{mcpv1alpha1.ScopeMCPConnect, mcpv1alpha1.ScopeSkillsRead, mcpv1alpha1.ScopeLinksRead}
	handle := &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: benchHandleName, UID: "u-acme", Generation: 1}, Spec: mcpv1alpha1.HandleSpec{
		Members:  []mcpv1alpha1.HandleMember{{User: "alice@example.com", Scopes: scopes}},
		Toolsets: []mcpv1alpha1.ToolsetReference{{Name: toolsetName}}}}
	toolset := &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: toolsetName, Generation: 1}, Spec: mcpv1alpha1.ToolsetSpec{
		URL:    upstreamMCP,
		Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{mcpv1alpha1.ScopeLinksRead}, Write: []mcpv1alpha1.Scope{mcpv1alpha1.ScopeLinksWrite}}}}
	grant := benchGrant(grantName, benchHandleName, 0, scopes, toolCount, now)
	reader := newMemReader(handle, toolset, grant)

	// Access tokens, signed like the runtime's.
	secretBytes := make([]byte, 32)
	_, _ = rand.Read(secretBytes)
	ks, err := tokens.NewKeySet("k1", tokens.Key{ID: "k1", Secret: secretBytes})
	if err != nil {
		tb.Fatal(err)
	}
	scopeSet, _ := tokens.NewScopeSet(scopes...)
	access, err := ks.MintAccess(tokens.Access{Handle: benchHandleName, Subject: "https://ai.10x.in#alice", ClientID: "acme-chatgpt",
		Grant: grantName, Scopes: scopeSet, Expiry: now.Add(24 * time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}

	// The runtime, wired as cmd/runtime wires it (runtime.NewMCP).
	log := slog.New(slog.DiscardHandler)
	cluster := runtime.Cluster{Reader: reader, Namespace: cfg.Namespace}
	srv := &runtime.Server{Config: cfg, Handles: cluster, Clients: cluster, Secrets: cluster, Keys: staticKeys{ks}, Now: time.Now,
		AccessTTL: time.Hour, SessionTTL: time.Hour}
	mcp := runtime.NewMCP(srv, reader, nil, minter, log, "bench")
	mcp.Bootstrap.Recorder = noRecorder{}
	if err := mcp.Tools.Refresh(ctx, toolsetName); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(mcp.Tools.Stop)
	rt := httptest.NewServer(srv.Handler())
	tb.Cleanup(rt.Close)

	// The plain proxy: one extra hop and nothing else.
	target, _ := url.Parse(up.URL)
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	tb.Cleanup(proxy.Close)

	bare := &bareHandler{}
	bareSrv := httptest.NewServer(bare)
	tb.Cleanup(bareSrv.Close)

	upstreamToken, err := longMinter.Mint(upstreamMCP, upstream.Claims{Handle: benchHandleName, Subject: "https://ai.10x.in#alice",
		ClientID: "acme-chatgpt", Grant: grantName, Scopes: []string{"mcp.connect", "skills.read", "links.read"}}, now)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{
		client:     &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}},
		runtimeURL: rt.URL + "/mcp", proxyURL: proxy.URL + "/mcp", bareURL: bareSrv.URL + "/mcp",
		access: access, upstreamToken: upstreamToken,
		upstreamTool: "list_links", runtimeTool: toolsets.Name(toolsetName, "list_links"),
		bare: bare,
	}
	tb.Cleanup(f.client.CloseIdleConnections)

	// initialize, as a client does once; its session id goes with every
	// later request (protocol 2025-11-25).
	status, header, body := f.do(f.runtimeRequest(rpcBody("initialize", map[string]any{"protocolVersion": protocol,
		"capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "bench", "version": "1"}})))
	f.session = header.Get("Mcp-Session-Id")
	if status != http.StatusOK || f.session == "" {
		tb.Fatalf("initialize: %d %s", status, body)
	}
	// The bare handler answers with exactly the runtime's tools/list bytes.
	status, header, body = f.do(f.runtimeRequest(f.toolsListBody()))
	if status != http.StatusOK || bytes.Count(body, []byte(`"name":"`+toolsetName+`_`)) != int(toolCount) {
		tb.Fatalf("tools/list: %d %s", status, body)
	}
	header.Del("Date")
	header.Del("Content-Length")
	bare.header, bare.body = header, body
	return f
}

func rpcBody(method string, params any) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	return b
}

func (f *fixture) toolsListBody() []byte { return rpcBody("tools/list", map[string]any{}) }

func (f *fixture) toolsCallBody(tool string) []byte {
	return rpcBody("tools/call", map[string]any{"name": tool, "arguments": map[string]any{}})
}

func mcpRequest(u string, body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", protocol)
	return req
}

// runtimeRequest is a request to the hosted URL https://acme.mcp.10x.in/mcp
// (the Gateway terminates TLS; the runtime sees the Host).
func (f *fixture) runtimeRequest(body []byte) *http.Request {
	req := mcpRequest(f.runtimeURL, body)
	req.Host = hostedHost
	req.Header.Set("Authorization", "Bearer "+f.access)
	if f.session != "" {
		req.Header.Set("Mcp-Session-Id", f.session)
	}
	return req
}

// proxyRequest is the same call sent through the plain proxy, with the
// upstream's own tool name and a token the upstream accepts.
func (f *fixture) proxyRequest(body []byte) *http.Request {
	req := mcpRequest(f.proxyURL, body)
	req.Header.Set("Authorization", "Bearer "+f.upstreamToken)
	return req
}

func (f *fixture) bareRequest(body []byte) *http.Request {
	req := mcpRequest(f.bareURL, body)
	req.Header.Set("Authorization", "Bearer "+f.access)
	return req
}

// do sends a request and reads the whole answer.
func (f *fixture) do(req *http.Request) (int, http.Header, []byte) {
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	return resp.StatusCode, resp.Header, body
}

// callOK checks a tools/call answer: 200 and a result that is not a tool
// error. The same check runs on both paths.
func callOK(status int, body []byte) bool {
	return status == http.StatusOK && bytes.Contains(body, []byte(`"result"`)) && !bytes.Contains(body, []byte(`"isError":true`))
}

// Package connectors_test replays what each MCP connector we claim to
// support sends, request by request, against the runtime: the profiles in
// profiles/*.json, taken from each client's public documentation, source
// and issue threads (docs/connectors.md). Each profile goes from nothing to
// a successful tools/call of a Links tool with one consent.
package connectors_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
	"github.com/10xdotin/mcp-handle-operator/test/framework/connecttest"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunSuite(m, &env)) }

const (
	namespace = "mcp-system"
	email     = "alice@example.com"
	password  = "wonderland"
	handle    = "acme"
)

// stack is the runtime as test/clients runs it: two replicas behind one TLS
// listener on 127.0.0.1 (requests alternate), the gateway host localhost and
// the hosted host acme.mcp.localhost on its port, the Links toolset as an
// upstream, and client ID metadata documents fetched from docs, a TLS
// server on loopback (which the runtime may dial here only).
type stack struct {
	cfg   *platform.Config
	addr  string // the listener, 127.0.0.1:PORT
	roots *x509.CertPool
	docs  *documents
}

// documents serves client ID metadata documents over https on loopback, at
// the paths the profiles give.
type documents struct {
	srv  *httptest.Server
	mu   sync.Mutex
	body map[string][]byte
}

func (d *documents) put(path string, body []byte) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.body[path] = body
	return d.srv.URL + path
}

func (d *documents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	b, ok := d.body[r.URL.Path]
	d.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(b)
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{docs: &documents{body: map[string][]byte{}}}
	s.docs.srv = httptest.NewTLSServer(s.docs)
	t.Cleanup(s.docs.srv.Close)
	docRoots := x509.NewCertPool()
	docRoots.AddCert(s.docs.srv.Certificate())

	var next atomic.Uint64
	var replicas []http.Handler
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replicas[next.Add(1)%uint64(len(replicas))].ServeHTTP(w, r)
	}))
	port := ts.Listener.Addr().(*net.TCPAddr).Port
	_, cfg, err := fixtures.Platform(fixtures.LocalPlatform(port, namespace))
	if err != nil {
		t.Fatal(err)
	}
	s.cfg, s.addr = cfg, ts.Listener.Addr().String()
	createObjects(t)
	links := testruntime.LinksUpstream(t, env.Client, namespace, cfg.Issuer)
	putToolset(t, mcpv1alpha1.ToolsetSpec{URL: links.URL + "/mcp",
		Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}})
	withMCP := testruntime.MCP(t, env.Config, env.Client)
	for range 2 {
		srv := testruntime.NewServer(t, cfg, env.Client, env.Client, "mcp-users")
		// cmd/runtime's default --refresh-retry-window: a client whose
		// refresh answer was lost presents the rotated token again.
		srv.Grants.RefreshRetryWindow = time.Minute
		// Each replica fetches documents itself, as in production; only
		// here may it dial loopback.
		srv.Clients = &oauth.MetadataDocumentClients{Clients: srv.Clients, Documents: &oauth.MetadataDocuments{
			AllowAddress: func(a netip.Addr) bool { return a.IsLoopback() },
			TLSConfig:    &tls.Config{RootCAs: docRoots, MinVersion: tls.VersionTLS12},
		}}
		withMCP(srv)
		replicas = append(replicas, srv.Handler())
	}

	_, s.roots = connecttest.StartTLS(t, ts)
	return s
}

// createObjects creates the static user alice and the handle acme she is a
// member of (every scope of the handle), which uses the Links toolset.
func createObjects(t *testing.T) {
	t.Helper()
	testruntime.CreateUserAndHandle(t, env.Client, namespace, "mcp-users", email, password, &mcpv1alpha1.Handle{
		ObjectMeta: metav1.ObjectMeta{Name: handle}, Spec: mcpv1alpha1.HandleSpec{
			DisplayName: "Acme", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.read", "links.write"},
			Members:  []mcpv1alpha1.HandleMember{{User: email}},
			Toolsets: []mcpv1alpha1.ToolsetReference{{Name: linksToolset}}}})
}

// linksToolset is the example Links upstream: links_list_links needs
// links.read, links_create_link and links_delete_link links.write.
const linksToolset = "links"

func putToolset(t *testing.T, spec mcpv1alpha1.ToolsetSpec) {
	t.Helper()
	ts := &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: linksToolset}, Spec: spec}
	if err := env.Client.Create(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
}

// httpClient reaches the listener whatever host a URL names, verifying the
// certificate with the test CA; loopback callbacks (http://127.0.0.1:PORT,
// http://localhost:PORT) go to the loopback address they name.
func (s *stack) httpClient(jar http.CookieJar) *http.Client {
	dialer := &net.Dialer{}
	return &http.Client{
		Jar: jar,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if host, port, _ := net.SplitHostPort(addr); port != "" && (host == "localhost" || host == "127.0.0.1" || host == "::1") &&
					!sameHostPort(addr, s.addr) {
					return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
				}
				return dialer.DialContext(ctx, network, s.addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sameHostPort reports whether addr (host:port) has the port of the
// listener: https://localhost:PORT is the runtime, not a callback.
func sameHostPort(addr, listener string) bool {
	_, p1, _ := net.SplitHostPort(addr)
	_, p2, _ := net.SplitHostPort(listener)
	return p1 == p2
}

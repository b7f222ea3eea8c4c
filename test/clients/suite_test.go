// Package clients_test runs third-party MCP clients and suites (Node, from
// npm: the official TypeScript SDK and the MCP conformance suite) against the
// runtime, started in-process with TLS on the real apiserver. hack/node.sh
// installs Node and the packages; `make test` runs it first, and a plain
// `go test ./test/clients/` runs it too when NODE is not set.
package clients_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
	"github.com/10xdotin/mcp-handle-operator/test/framework/connecttest"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

var (
	env *controlplane.Env
	// node is the Node binary (>= 22) that runs the suites.
	node string
)

func TestMain(m *testing.M) { os.Exit(controlplane.RunSuite(m, &env, findNode)) }

const (
	namespace = "mcp-system"
	email     = "alice@example.com"
	password  = "wonderland"
	// handle offers four scopes; alice may approve all of them.
	handle = "acme"
)

var handleScopes = []mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.read", "links.write"}

// clientsDir is this folder: package.json, the scripts and node_modules.
func clientsDir() string { return filepath.Join(controlplane.RepoRoot(), "test", "clients") }

// findNode takes Node from NODE (set by `make test` after `make clients`),
// or runs hack/node.sh, which installs Node and the npm packages when they
// are missing and prints the binary's path. Either way a missing Node fails
// the suite; it never skips.
func findNode(*controlplane.Env) error {
	var err error
	if node, err = controlplane.Tool("NODE", "node.sh"); err != nil {
		return fmt.Errorf("Node and test/clients/node_modules: %w", err)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return fmt.Errorf("node %s does not run (NODE=%q; run `make clients`): %w", node, os.Getenv("NODE"), err)
	}
	v := strings.TrimSpace(string(out))
	if major, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "."); atoi(major) < 22 {
		return fmt.Errorf("node %s is %s; the suites need Node >= 22 (run `make clients`)", node, v)
	}
	for _, p := range []string{"@modelcontextprotocol/sdk/package.json", "@modelcontextprotocol/conformance/package.json"} {
		if _, err := os.Stat(filepath.Join(clientsDir(), "node_modules", p)); err != nil {
			return fmt.Errorf("test/clients/node_modules lacks %s (run `make clients`): %w", p, err)
		}
	}
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// stack is the runtime, two replicas behind one TLS listener on 127.0.0.1
// (requests alternate between them), serving the gateway host localhost and
// the hosted host acme.mcp.localhost on the listener's port, with a
// certificate Node trusts through NODE_EXTRA_CA_CERTS. Each replica serves
// the MCP endpoint as cmd/runtime does (test/framework/testruntime), and the
// handle uses the example Links toolset, running on 127.0.0.1 as the
// Toolset linksToolset.
type stack struct {
	cfg    *platform.Config
	keys   oauth.Keys
	origin string // https://localhost:PORT, the issuer
	addr   string // 127.0.0.1:PORT, the listener
	caFile string
	roots  *x509.CertPool
}

// linksToolset is the Toolset of the example Links upstream: its tools are
// links_list_links (read-only, links.read), links_create_link and
// links_delete_link (links.write).
const linksToolset = "links"

func newStack(t *testing.T) *stack {
	t.Helper()
	return newStackOf(t, 2)
}

// newStackOf is newStack with the given number of runtime replicas behind
// the round-robin listener: 1 stands for a Gateway that keeps a client's
// session on one replica (session affinity).
func newStackOf(t *testing.T, replicaCount int) *stack {
	t.Helper()
	s := &stack{}
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
	s.cfg, s.origin, s.addr = cfg, cfg.Issuer, ts.Listener.Addr().String()
	if s.origin != fmt.Sprintf("https://localhost:%d", port) || cfg.HostedURL(handle) != fmt.Sprintf("https://%s.mcp.localhost:%d/mcp", handle, port) {
		t.Fatalf("issuer %s, hosted URL %s", s.origin, cfg.HostedURL(handle))
	}
	createObjects(t)
	links := testruntime.LinksUpstream(t, env.Client, namespace, cfg.Issuer)
	putToolset(t, linksToolset, mcpv1alpha1.ToolsetSpec{URL: links.URL + "/mcp",
		Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}})
	withMCP := testruntime.MCP(t, env.Config, env.Client)

	c := env.Client
	for range replicaCount {
		srv := testruntime.NewServer(t, cfg, c, c, "mcp-users")
		s.keys = srv.Keys
		withMCP(srv)
		replicas = append(replicas, srv.Handler())
	}

	s.caFile, s.roots = connecttest.StartTLS(t, ts)
	return s
}

// createObjects creates the static user alice and the handle she is a
// member of, which uses the Links toolset, once per suite.
func createObjects(t *testing.T) {
	t.Helper()
	testruntime.CreateUserAndHandle(t, env.Client, namespace, "mcp-users", email, password, &mcpv1alpha1.Handle{
		ObjectMeta: metav1.ObjectMeta{Name: handle}, Spec: mcpv1alpha1.HandleSpec{
			DisplayName: "Acme", Scopes: handleScopes,
			Members:  []mcpv1alpha1.HandleMember{{User: email}},
			Toolsets: []mcpv1alpha1.ToolsetReference{{Name: linksToolset}}}})
}

// putToolset creates the Toolset, or sets its spec when it exists (each
// stack runs its own upstream).
func putToolset(t *testing.T, name string, spec mcpv1alpha1.ToolsetSpec) {
	t.Helper()
	ctx := context.Background()
	ts := &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	err := env.Client.Create(ctx, ts)
	if apierrors.IsAlreadyExists(err) {
		if err = env.Client.Get(ctx, ctrlclient.ObjectKeyFromObject(ts), ts); err == nil {
			ts.Spec = spec
			err = env.Client.Update(ctx, ts)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// nodeCommand prepares Node with the stack's CA and extra environment, in
// this folder (so node_modules resolves).
func (s *stack) nodeCommand(ctx context.Context, extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = clientsDir()
	cmd.Env = append(os.Environ(), append([]string{"NODE_EXTRA_CA_CERTS=" + s.caFile, "NO_COLOR=1"}, extraEnv...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runNode runs a Node script to completion and returns its stdout; a
// failure fails the test with everything Node printed.
func (s *stack) runNode(t *testing.T, extraEnv []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := s.nodeCommand(ctx, extraEnv, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node %s: %v\n--- stdout\n%s\n--- stderr\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

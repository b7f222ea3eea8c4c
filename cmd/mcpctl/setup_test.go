package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
	"github.com/10xdotin/mcp-handle-operator/test/framework/connecttest"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunSuite(m, &env)) }

const (
	cb1 = "https://chatgpt.com/connector/oauth/cb_setup_one"
	cb2 = "https://chatgpt.com/connector/oauth/cb_setup_two"
	cb3 = "https://chatgpt.com/connector/oauth/cb_setup_three"
)

// runtimeStack is the runtime with its MCP endpoint, in-process on the real
// apiserver, behind TLS on 127.0.0.1 with the platform configuration of
// the local stack's shape: handles on https://{handle}.mcp.localhost:PORT/mcp,
// the gateway and issuer on https://localhost:PORT. mcpctl reaches it by
// those names (it resolves *.localhost to loopback) and trusts it through
// --ca-file.
type runtimeStack struct {
	port   int
	caFile string
	cfg    *platform.Config
}

var (
	stackOnce sync.Once
	shared    *runtimeStack
)

// stack starts the runtime once for the package's tests.
func stack(t *testing.T) *runtimeStack {
	t.Helper()
	stackOnce.Do(func() { shared = startRuntime(t) })
	if shared == nil {
		t.Fatal("the runtime did not start")
	}
	return shared
}

func startRuntime(t *testing.T) *runtimeStack {
	return startRuntimeWith(t, true, "localhost", "*.mcp.localhost")
}

// startRuntimeWith starts a runtime whose platform configuration has the
// shared gateway on or off, behind a certificate for certNames only (doctor's
// tests start one without the hosted names).
func startRuntimeWith(t *testing.T, sharedGateway bool, certNames ...string) *runtimeStack {
	ctx := context.Background()
	ts := httptest.NewUnstartedServer(nil)
	port := ts.Listener.Addr().(*net.TCPAddr).Port
	local := fixtures.LocalPlatform(port, "mcp-system")
	local.SharedGateway.Enabled = sharedGateway
	local.LegacyAuthorizationServers = []string{"api.10x.in"}
	_, cfg, err := fixtures.Platform(local)
	if err != nil {
		t.Fatal(err)
	}
	c := env.Client
	for _, o := range []ctrlclient.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp-users", Namespace: cfg.Namespace}, Data: map[string][]byte{web.StaticUsersKey: fixtures.Users()}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{User: "alice@example.com"}}}},
	} {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	// The runtime lives as long as the test binary: every test shares it.
	srv := testruntime.NewServer(&suiteTB{t}, cfg, c, c, "mcp-users")
	testruntime.MCP(&suiteTB{t}, env.Config, c)(srv)
	cert, caFile := connecttest.CertificateFor(&suiteTB{t}, certNames...)
	ts.Config.Handler = srv.Handler()
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	return &runtimeStack{port: port, caFile: caFile, cfg: cfg}
}

// suiteTB keeps what a test registers for cleanup alive until the binary
// exits, so the first test's runtime serves the others too.
type suiteTB struct{ *testing.T }

func (s *suiteTB) Cleanup(func()) {}

func (s *suiteTB) TempDir() string {
	dir, err := os.MkdirTemp("", "mcpctl-setup-test")
	if err != nil {
		s.Fatal(err)
	}
	return dir
}

func (s *runtimeStack) base() string   { return fmt.Sprintf("localhost:%d", s.port) }
func (s *runtimeStack) issuer() string { return fmt.Sprintf("https://localhost:%d", s.port) }

// mcpctl runs the command and returns its exit code, stdout and stderr.
func mcpctl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func (s *runtimeStack) setup(t *testing.T, args ...string) setupResult {
	t.Helper()
	args = append([]string{setupName, "--ca-file", s.caFile, "-o", "json"}, args...)
	code, out, errOut := mcpctl(args...)
	if code != 0 {
		t.Fatalf("mcpctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	var r setupResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return r
}

func client(t *testing.T, id string) *mcpv1alpha1.OAuthClient {
	t.Helper()
	c := &mcpv1alpha1.OAuthClient{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: id}, c); err != nil {
		t.Fatalf("client %s: %v", id, err)
	}
	return c
}

func uris(c *mcpv1alpha1.OAuthClient) []string {
	var out []string
	for _, u := range c.Spec.RedirectURIs {
		out = append(out, string(u))
	}
	return out
}

func TestSetupForHandle(t *testing.T) {
	s := stack(t)
	r := s.setup(t, "--base-domain", s.base(), "--handle", "acme", "--redirect-uri", cb1, "--redirect-uri", cb2)
	if r.MCPServerURL != fmt.Sprintf("https://acme.mcp.localhost:%d/mcp", s.port) || r.AuthorizationServer != s.issuer() ||
		!slices.Equal(r.RedirectURIs, []string{cb1, cb2}) || strings.Join(r.DefaultScopes, " ") != "mcp.connect skills.read" ||
		r.Action != "registered" || !strings.HasPrefix(r.RegistrationAccessToken, "mcpreg1_") || r.ClientSecret != "" {
		t.Fatalf("result %+v", r)
	}
	c := client(t, r.ClientID)
	if c.Spec.Handle != "acme" || c.Spec.Gateway || c.Spec.Registration != mcpv1alpha1.RegistrationDynamic ||
		c.Spec.TokenEndpointAuthMethod != mcpv1alpha1.TokenEndpointAuthNone || c.Spec.ClientName != "ChatGPT (acme)" ||
		!slices.Equal(uris(c), []string{cb1, cb2}) {
		t.Fatalf("registered client %+v", c.Spec)
	}

	// The same through --server-url, in text: the guide's five values.
	code, out, errOut := mcpctl(setupName, "--ca-file", s.caFile, "--server-url", r.MCPServerURL, "--redirect-uri", cb1)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"MCP server URL:             " + r.MCPServerURL + "\n", "OAuth authorization server: " + s.issuer() + "\n",
		"Registered client_id:       dcr-", "Registered redirect URIs:   " + cb1 + "\n", "Default scopes:             mcp.connect skills.read\n",
		"Registration access token:  mcpreg1_", "--server-url " + r.MCPServerURL + " --ca-file " + s.caFile + " --client-id dcr-"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "» protected-resource metadata, from the challenge") {
		t.Errorf("progress on stderr: %s", errOut)
	}
}

func TestSetupForGatewayAndCompat(t *testing.T) {
	s := stack(t)
	r := s.setup(t, "--base-domain", s.base(), "--gateway", "--redirect-uri", cb1, "--scopes", "mcp.connect,skills.read,links.read")
	if r.MCPServerURL != s.issuer()+"/mcp" || r.AuthorizationServer != s.issuer() || strings.Join(r.DefaultScopes, " ") != "mcp.connect skills.read links.read" {
		t.Fatalf("gateway: %+v", r)
	}
	if c := client(t, r.ClientID); !c.Spec.Gateway || c.Spec.Handle != "" || c.Spec.ClientName != "ChatGPT (shared app)" {
		t.Fatalf("gateway client %+v", c.Spec)
	}

	r = s.setup(t, "--base-domain", s.base(), "--handle", "acme", "--compat", "--redirect-uri", cb2)
	if r.MCPServerURL != s.issuer()+"/mcp/acme/mcp" || r.AuthorizationServer != s.issuer() {
		t.Fatalf("compat: %+v", r)
	}
	if c := client(t, r.ClientID); c.Spec.Handle != "acme" || c.Spec.Gateway {
		t.Fatalf("compat client %+v", c.Spec)
	}
}

func TestSetupRepairsAClient(t *testing.T) {
	s := stack(t)
	// A name of its own: a registration identical to another test's unused
	// client would be answered with that client, without a token.
	r := s.setup(t, "--base-domain", s.base(), "--handle", "acme", "--redirect-uri", cb1, "--client-name", "Repair test")
	id, token := r.ClientID, r.RegistrationAccessToken

	// Add a callback: the old one stays.
	u := s.setup(t, "--base-domain", s.base(), "--handle", "acme", "--client-id", id, "--registration-access-token", token, "--redirect-uri", cb2)
	if u.Action != "updated" || u.ClientID != id || !slices.Equal(u.RedirectURIs, []string{cb1, cb2}) || u.RegistrationAccessToken != "" ||
		strings.Join(u.DefaultScopes, " ") != "mcp.connect skills.read" {
		t.Fatalf("add: %+v", u)
	}
	if got := uris(client(t, id)); !slices.Equal(got, []string{cb1, cb2}) {
		t.Fatalf("after add: %v", got)
	}
	// Replace them, with the token from the environment this time.
	t.Setenv(tokenEnv, token)
	u = s.setup(t, "--base-domain", s.base(), "--handle", "acme", "--client-id", id, "--replace-redirect-uris", "--redirect-uri", cb3)
	if !slices.Equal(u.RedirectURIs, []string{cb3}) || !slices.Equal(uris(client(t, id)), []string{cb3}) {
		t.Fatalf("replace: %+v", u)
	}
	t.Setenv(tokenEnv, "")

	// A wrong token changes nothing.
	code, _, errOut := mcpctl(setupName, "--ca-file", s.caFile, "--base-domain", s.base(), "--handle", "acme",
		"--client-id", id, "--registration-access-token", "mcpreg1_wrong", "--redirect-uri", cb1)
	if code != exitError || !strings.Contains(errOut, "401 Unauthorized: invalid_token") || !strings.Contains(errOut, "hint: the registration access token does not match") {
		t.Fatalf("wrong token: exit %d\n%s", code, errOut)
	}
	// The client of another binding is not repaired for this handle.
	g := s.setup(t, "--base-domain", s.base(), "--gateway", "--redirect-uri", cb1, "--client-name", "Repair test")
	code, _, errOut = mcpctl(setupName, "--ca-file", s.caFile, "--base-domain", s.base(), "--handle", "acme",
		"--client-id", g.ClientID, "--registration-access-token", g.RegistrationAccessToken, "--redirect-uri", cb2)
	if code != exitError || !strings.Contains(errOut, "is registered for "+s.issuer()+"/mcp, not") {
		t.Fatalf("other binding: exit %d\n%s", code, errOut)
	}
	if got := uris(client(t, g.ClientID)); !slices.Equal(got, []string{cb1}) {
		t.Fatalf("the gateway client changed: %v", got)
	}
	if got := uris(client(t, id)); !slices.Equal(got, []string{cb3}) {
		t.Fatalf("the client changed after a failed repair: %v", got)
	}
}

func TestSetupYAMLRegistersNothing(t *testing.T) {
	s := stack(t)
	ctx := context.Background()
	before := &mcpv1alpha1.OAuthClientList{}
	if err := env.Client.List(ctx, before); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := mcpctl(setupName, "--base-domain", s.base(), "--handle", "acme", "--redirect-uri", cb1, "--redirect-uri", cb2, "-o", "yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	after := &mcpv1alpha1.OAuthClientList{}
	if err := env.Client.List(ctx, after); err != nil {
		t.Fatal(err)
	}
	if len(after.Items) != len(before.Items) {
		t.Fatalf("-o yaml registered a client: %d clients before, %d after", len(before.Items), len(after.Items))
	}
	c := &mcpv1alpha1.OAuthClient{}
	if err := yaml.UnmarshalStrict([]byte(out), c); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if c.Kind != "OAuthClient" || c.APIVersion != "mcp.10x.in/v1alpha1" || c.Name != "acme-chatgpt" || c.Spec.Handle != "acme" ||
		!slices.Equal(uris(c), []string{cb1, cb2}) || fmt.Sprint(c.Spec.DefaultScopes) != "[mcp.connect skills.read]" {
		t.Fatalf("manifest:\n%s", out)
	}
	// The apiserver accepts it as it stands (CRD schema and CEL rules).
	if err := env.Client.Create(ctx, c, ctrlclient.DryRunAll); err != nil {
		t.Fatalf("the manifest is not valid: %v\n%s", err, out)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: "acme-chatgpt"}, &mcpv1alpha1.OAuthClient{}); !apierrors.IsNotFound(err) {
		t.Fatalf("acme-chatgpt exists: %v", err)
	}

	// The gateway, named by the caller.
	code, out, errOut = mcpctl(setupName, "--gateway", "--redirect-uri", cb1, "--name", "shared-app", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "  gateway: true\n") || !strings.Contains(out, "  name: shared-app\n") || strings.Contains(out, "handle:") {
		t.Fatalf("gateway manifest: exit %d\n%s%s", code, out, errOut)
	}
}

// legacyServer is a protected resource whose metadata advertises the legacy
// shared API host, as a stale edge would. It records every request.
func legacyServer(t *testing.T) (mcpURL, caFile string, requests func() []string) {
	var mu sync.Mutex
	var seen []string
	ts := httptest.NewUnstartedServer(nil)
	port := ts.Listener.Addr().(*net.TCPAddr).Port
	mcpURL = fmt.Sprintf("https://acme.mcp.localhost:%d/mcp", port)
	prm := fmt.Sprintf("https://acme.mcp.localhost:%d/.well-known/oauth-protected-resource/mcp", port)
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/mcp":
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+prm+`", scope="mcp.connect skills.read"`)
			w.WriteHeader(401)
		case "/.well-known/oauth-protected-resource/mcp":
			_ = json.NewEncoder(w).Encode(map[string]any{"resource": mcpURL, "authorization_servers": []string{"https://api.10x.in"}})
		default:
			w.WriteHeader(404)
		}
	})
	caFile, _ = connecttest.StartTLS(t, ts)
	return mcpURL, caFile, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

func TestSetupWarnsOfAnotherAuthorizationServer(t *testing.T) {
	mcpURL, caFile, requests := legacyServer(t)
	// The environment (localhost:PORT, from the URL) expects
	// https://localhost:PORT; the resource advertises api.10x.in.
	code, out, errOut := mcpctl(setupName, "--ca-file", caFile, "--server-url", mcpURL, "--redirect-uri", cb1)
	if code != exitWrongIssuer || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{"WARNING: WRONG OAUTH AUTHORIZATION SERVER. NOTHING WAS REGISTERED.", "advertises authorization_servers https://api.10x.in",
		"but this environment's issuer is https://localhost:", "ChatGPT will not auto-populate the OAuth fields"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if got := requests(); !slices.Equal(got, []string{"POST /mcp", "GET /.well-known/oauth-protected-resource/mcp"}) {
		t.Errorf("requests: %v", got)
	}

	// The real runtime advertises its own issuer: for production's
	// expectation it is the wrong one.
	s := stack(t)
	code, _, errOut = mcpctl(setupName, "--ca-file", s.caFile, "--base-domain", s.base(), "--handle", "acme", "--redirect-uri", cb1,
		"--expected-issuer", "https://ai.10x.in")
	if code != exitWrongIssuer || !strings.Contains(errOut, "advertises authorization_servers "+s.issuer()) || !strings.Contains(errOut, "issuer is https://ai.10x.in.") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

func TestSetupNetworkErrors(t *testing.T) {
	s := stack(t)
	// Without --ca-file the local certificate is not trusted.
	code, _, errOut := mcpctl(setupName, "--base-domain", s.base(), "--handle", "acme", "--redirect-uri", cb1)
	if code != exitError || !strings.Contains(errOut, "(tls)") || !strings.Contains(errOut, "hint: the server's certificate is not trusted") {
		t.Fatalf("untrusted: exit %d\n%s", code, errOut)
	}
	// An unknown handle: the endpoint's 404 handle_not_found.
	code, _, errOut = mcpctl(setupName, "--ca-file", s.caFile, "--base-domain", s.base(), "--handle", "nosuch", "--redirect-uri", cb1)
	if code != exitError || !strings.Contains(errOut, "404 Not Found: handle_not_found") || !strings.Contains(errOut, "hint: no such handle") {
		t.Fatalf("unknown handle: exit %d\n%s", code, errOut)
	}
}

func TestSetupFlagErrors(t *testing.T) {
	h := []string{"--handle", "acme"}
	cb := []string{"--redirect-uri", cb1}
	cases := []struct {
		want string
		args []string
	}{
		{"at least one --redirect-uri is required", h},
		{"must be an https URL", append(h, "--redirect-uri", "http://chatgpt.com/connector/oauth/cb")},
		{"must not contain a fragment", append(h, "--redirect-uri", cb1+"#x")},
		{"has leading or trailing spaces", append(h, "--redirect-uri", cb1+" ")},
		{"is not in exact form", append(h, "--redirect-uri", "https://chatgpt.com/connector/oauth/cb 1")},
		{"is not an absolute URL", append(h, "--redirect-uri", "https:chatgpt.com/cb")},
		{"--handle and --gateway are exclusive", append(append(h, "--gateway"), cb...)},
		{"one of --handle HANDLE, --gateway or --server-url URL is required", cb},
		{"--compat needs --handle", append([]string{"--gateway", "--compat"}, cb...)},
		{"--client-id and --registration-access-token go together", append(append(h, "--client-id", "dcr-x"), cb...)},
		{"--replace-redirect-uris needs --client-id", append(append(h, "--replace-redirect-uris"), cb...)},
		{"use one or the other", append(append(h, "-o", "yaml", "--client-id", "dcr-x", "--registration-access-token", "t"), cb...)},
		{`-o "xml": must be text, json or yaml`, append(append(h, "-o", "xml"), cb...)},
		{`unknown scope "links.admin"`, append(append(h, "--scopes", "mcp.connect links.admin"), cb...)},
		{`--handle "Acme" is not a handle name`, append([]string{"--handle", "Acme"}, cb...)},
		{`--base-domain "10x.in:99999"`, append(append(h, "--base-domain", "10x.in:99999"), cb...)},
		{"must be an absolute https URL", append([]string{"--server-url", "http://acme.mcp.10x.in/mcp"}, cb...)},
		{"cannot tell which authorization server https://mcp.example.com/mcp should advertise", append([]string{"--server-url", "https://mcp.example.com/mcp"}, cb...)},
		{"--handle beta does not match --server-url", append([]string{"--handle", "beta", "--server-url", "https://acme.mcp.10x.in/mcp"}, cb...)},
		{"--gateway does not match --server-url", append([]string{"--gateway", "--server-url", "https://acme.mcp.10x.in/mcp"}, cb...)},
		{"--compat derives the URL", append([]string{"--handle", "acme", "--compat", "--server-url", "https://ai.10x.in/mcp/acme/mcp"}, cb...)},
		{"--expected-issuer", append(append(h, "--expected-issuer", "http://ai.10x.in"), cb...)},
		{`unexpected argument "extra"`, append(append(h, cb...), "extra")},
		{"flag provided but not defined: -bogus", append(append(h, cb...), "--bogus")},
	}
	for _, c := range cases {
		code, out, errOut := mcpctl(append([]string{setupName}, c.args...)...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
	// Production is the default environment, and its URLs are derived.
	for args, want := range map[string]string{
		"--handle acme":          "https://acme.mcp.10x.in/mcp",
		"--gateway":              "https://ai.10x.in/mcp",
		"--handle acme --compat": "https://ai.10x.in/mcp/acme/mcp",
		"--handle acme --base-domain staging.10x.in": "https://acme.mcp.staging.10x.in/mcp",
		"--handle acme --base-domain localhost:8443": "https://acme.mcp.localhost:8443/mcp",
		"--gateway --base-domain localhost:8443":     "https://localhost:8443/mcp",
	} {
		f := &setupFlags{targetFlags: targetFlags{output: "text", baseDomain: defaultBaseDomain, timeout: time.Second, set: map[string]bool{}},
			redirectURIs: stringList{cb1}, tokenAuthMethod: "none"}
		fields := strings.Fields(args)
		for i := 0; i < len(fields); i++ {
			switch fields[i] {
			case "--handle":
				f.handle = fields[i+1]
				i++
			case "--base-domain":
				f.baseDomain = fields[i+1]
				i++
			case "--gateway":
				f.gateway = true
			case "--compat":
				f.compat = true
			}
		}
		tg, err := f.validate()
		wantIssuer := "https://ai.10x.in"
		if strings.Contains(args, "staging") {
			wantIssuer = "https://ai.staging.10x.in"
		} else if strings.Contains(args, "localhost") {
			wantIssuer = "https://localhost:8443"
		}
		if err != nil || tg.url != want || tg.issuer != wantIssuer {
			t.Errorf("%s: %v %+v; want %s with issuer %s", args, err, tg, want, wantIssuer)
		}
	}
}

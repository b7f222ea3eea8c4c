package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/test/framework/connecttest"
)

// fake is a TLS server on 127.0.0.1 reached as acme.mcp.localhost and
// localhost: a protected resource and its authorization server, whose
// documents each test adjusts.
type fake struct {
	srv    *httptest.Server
	port   int
	caFile string

	mu        sync.Mutex
	requests  []string
	challenge string // WWW-Authenticate of POST /mcp; "-" for none
	prm       map[string]any
	asm       map[string]any
	delay     time.Duration
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	caFile, _ := connecttest.StartTLS(t, f.srv)
	f.port, f.caFile = f.srv.Listener.Addr().(*net.TCPAddr).Port, caFile
	f.reset()
	f.challenge = fmt.Sprintf(`Bearer resource_metadata="%s", scope="mcp.connect skills.read", error="missing_bearer_token", error_description="no token"`,
		f.url("acme.mcp.localhost", "/.well-known/oauth-protected-resource/mcp"))
	return f
}

func (f *fake) url(host, path string) string {
	return fmt.Sprintf("https://%s:%d%s", host, f.port, path)
}
func (f *fake) mcpURL() string { return f.url("acme.mcp.localhost", "/mcp") }
func (f *fake) issuer() string { return f.url("localhost", "") }

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.Host+r.URL.Path)
	challenge, prm, asm, delay := f.challenge, f.prm, f.asm, f.delay
	f.mu.Unlock()
	time.Sleep(delay)
	host, _, _ := net.SplitHostPort(r.Host)
	switch {
	case r.Method == "POST" && r.URL.Path == "/mcp":
		if r.Header.Get("Authorization") != "" || !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			http.Error(w, "unexpected request", 400)
			return
		}
		if challenge != "-" {
			w.Header().Set("WWW-Authenticate", challenge)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"missing_bearer_token","error_description":"no token"}`))
	case r.Method == "GET" && r.URL.Path == "/.well-known/oauth-protected-resource/mcp" && host == "acme.mcp.localhost":
		_ = json.NewEncoder(w).Encode(prm)
	case r.Method == "GET" && r.URL.Path == "/.well-known/oauth-authorization-server" && host == "localhost":
		_ = json.NewEncoder(w).Encode(asm)
	default:
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"error":"not_found"}`))
	}
}

func (f *fake) client(t *testing.T, timeout time.Duration) *connect.Client {
	t.Helper()
	c, err := connect.New(connect.Options{CAFile: f.caFile, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDiscoverResolvesLocalhostNamesAndChecksEachDocument(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	d, err := f.client(t, 5*time.Second).Discover(ctx, f.mcpURL(), connect.DiscoverOptions{ExpectedIssuer: f.issuer()})
	if err != nil {
		t.Fatal(err)
	}
	if d.Issuer != f.issuer() || d.AuthServer.RegistrationEndpoint != f.issuer()+"/oauth/register" || !d.ResourceMetadataFromChallenge ||
		strings.Join(d.Probe.Bearer.Scope, " ") != "mcp.connect skills.read" || d.Probe.OAuthError != "missing_bearer_token" {
		t.Fatalf("discovery %+v, probe %+v", d, d.Probe)
	}

	// Without resource_metadata the well-known URL of the resource is used.
	f.mu.Lock()
	f.challenge = `Bearer scope="mcp.connect"`
	f.mu.Unlock()
	if d, err = f.client(t, 5*time.Second).Discover(ctx, f.mcpURL(), connect.DiscoverOptions{}); err != nil || d.ResourceMetadataFromChallenge ||
		d.ResourceMetadataURL != f.url("acme.mcp.localhost", "/.well-known/oauth-protected-resource/mcp") {
		t.Fatalf("well-known fallback: %v %+v", err, d)
	}

	type check struct {
		name   string
		adjust func()
		verify func(error) bool
	}
	restore := func() { f.reset() }
	for _, c := range []check{
		{"no challenge", func() { f.challenge = "-" }, func(err error) bool {
			var e *connect.ChallengeError
			return errors.As(err, &e) && e.Reason == "no WWW-Authenticate header"
		}},
		{"malformed challenge", func() { f.challenge = `Bearer resource_metadata="unterminated` }, func(err error) bool {
			return errors.Is(err, connect.ErrMalformedChallenge)
		}},
		{"not a Bearer challenge", func() { f.challenge = `Basic realm="x"` }, func(err error) bool {
			var e *connect.ChallengeError
			return errors.As(err, &e) && e.Reason == "no Bearer challenge"
		}},
		{"resource of another URL", func() { f.prm["resource"] = f.url("other.mcp.localhost", "/mcp") }, func(err error) bool {
			var e *connect.MetadataError
			return errors.As(err, &e) && e.Step == connect.StepResourceMetadata && e.Field == "resource"
		}},
		{"http authorization server", func() { f.prm["authorization_servers"] = []string{"http://localhost"} }, func(err error) bool {
			var e *connect.MetadataError
			return errors.As(err, &e) && e.Field == "authorization_servers"
		}},
		{"legacy host advertised", func() { f.prm["authorization_servers"] = []string{"https://api.10x.in"} }, func(err error) bool {
			var e *connect.IssuerMismatchError
			return errors.As(err, &e) && e.Expected == f.issuer() && e.Advertised[0] == "https://api.10x.in"
		}},
		{"issuer differs from the metadata URL", func() { f.asm["issuer"] = f.issuer() + "/" }, func(err error) bool {
			var e *connect.MetadataError
			return errors.As(err, &e) && e.Step == connect.StepAuthorizationServer && e.Field == "issuer"
		}},
		{"no PKCE", func() { delete(f.asm, "code_challenge_methods_supported") }, func(err error) bool {
			var e *connect.MetadataError
			return errors.As(err, &e) && e.Field == "code_challenge_methods_supported"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			restore()
			f.mu.Lock()
			c.adjust()
			f.mu.Unlock()
			_, err := f.client(t, 5*time.Second).Discover(ctx, f.mcpURL(), connect.DiscoverOptions{ExpectedIssuer: f.issuer()})
			if !c.verify(err) {
				t.Fatalf("error %T %v", err, err)
			}
		})
	}

	// The legacy host is never contacted: discovery stops at the check.
	restore()
	f.mu.Lock()
	f.prm["authorization_servers"] = []string{"https://api.10x.in"}
	f.requests = nil
	f.mu.Unlock()
	_, _ = f.client(t, 5*time.Second).Discover(ctx, f.mcpURL(), connect.DiscoverOptions{ExpectedIssuer: f.issuer()})
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 2 {
		t.Fatalf("requests after the mismatch: %v", f.requests)
	}
}

// reset sets f's documents back to a valid configuration.
func (f *fake) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.challenge = fmt.Sprintf(`Bearer resource_metadata="%s"`, f.url("acme.mcp.localhost", "/.well-known/oauth-protected-resource/mcp"))
	f.prm = map[string]any{"resource": f.mcpURL(), "authorization_servers": []string{f.issuer()}}
	f.asm = map[string]any{"issuer": f.issuer(), "authorization_endpoint": f.issuer() + "/oauth/authorize",
		"token_endpoint": f.issuer() + "/oauth/token", "registration_endpoint": f.issuer() + "/oauth/register",
		"code_challenge_methods_supported": []string{"S256"}}
}

func TestRequestFailuresAreClassified(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	// The certificate is not trusted without the CA file.
	untrusted, err := connect.New(connect.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var reqErr *connect.RequestError
	if _, err := untrusted.Probe(ctx, f.mcpURL()); !errors.As(err, &reqErr) || reqErr.Kind != connect.FailureTLS || reqErr.Step != connect.StepProbe {
		t.Fatalf("untrusted certificate: %T %v", err, err)
	}
	// Every request is bounded by the timeout.
	f.mu.Lock()
	f.delay = 2 * time.Second
	f.mu.Unlock()
	start := time.Now()
	if _, err := f.client(t, 300*time.Millisecond).Probe(ctx, f.mcpURL()); !errors.As(err, &reqErr) || reqErr.Kind != connect.FailureTimeout {
		t.Fatalf("slow server: %T %v", err, err)
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("the timeout did not apply: %s", time.Since(start))
	}
	f.mu.Lock()
	f.delay = 0
	f.mu.Unlock()
	// Nothing listens: a connection failure on the loopback address.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	if _, err := f.client(t, 2*time.Second).Probe(ctx, fmt.Sprintf("https://acme.mcp.localhost:%d/mcp", closed)); !errors.As(err, &reqErr) || reqErr.Kind != connect.FailureConnect {
		t.Fatalf("closed port: %T %v", err, err)
	}
	// A status other than 401 is a StatusError with the body's error.
	var statusErr *connect.StatusError
	res, err := f.client(t, 2*time.Second).Probe(ctx, f.url("acme.mcp.localhost", "/nothing"))
	if !errors.As(err, &statusErr) || statusErr.Status != 404 || statusErr.OAuthError != "not_found" || res == nil || res.Status != 404 {
		t.Fatalf("404: %T %v %+v", err, err, res)
	}
}

func TestWellKnownURLs(t *testing.T) {
	for in, want := range map[string]string{
		"https://acme.mcp.10x.in/mcp":     "https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp",
		"https://ai.10x.in/mcp/acme/mcp":  "https://ai.10x.in/.well-known/oauth-protected-resource/mcp/acme/mcp",
		"https://localhost:8443/":         "https://localhost:8443/.well-known/oauth-protected-resource",
		"https://h.example/a%2Fb/mcp":     "https://h.example/.well-known/oauth-protected-resource/a%2Fb/mcp",
		"https://localhost:8443/mcp/acme": "https://localhost:8443/.well-known/oauth-protected-resource/mcp/acme",
	} {
		if got, err := connect.ResourceMetadataURL(in); err != nil || got != want {
			t.Errorf("ResourceMetadataURL(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"https://ai.10x.in":        "https://ai.10x.in/.well-known/oauth-authorization-server",
		"https://ai.10x.in/":       "https://ai.10x.in/.well-known/oauth-authorization-server",
		"https://h.example/tenant": "https://h.example/.well-known/oauth-authorization-server/tenant",
		"https://localhost:8443":   "https://localhost:8443/.well-known/oauth-authorization-server",
	} {
		if got, err := connect.AuthServerMetadataURL(in); err != nil || got != want {
			t.Errorf("AuthServerMetadataURL(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://ai.10x.in", "https://ai.10x.in?x=1", "ai.10x.in", "https://user@ai.10x.in"} {
		if _, err := connect.AuthServerMetadataURL(bad); err == nil {
			t.Errorf("AuthServerMetadataURL(%s) accepted", bad)
		}
	}
	if got := connect.ClientURI("https://ai.10x.in/oauth/register", "dcr-a b"); got != "https://ai.10x.in/oauth/register/dcr-a%20b" {
		t.Errorf("ClientURI: %s", got)
	}
	for host, want := range map[string]bool{"localhost": true, "acme.mcp.localhost": true, "ACME.MCP.LOCALHOST.": true,
		"localhost.example": false, "notlocalhost": false, "127.0.0.1": false} {
		if connect.IsLoopbackName(host) != want {
			t.Errorf("IsLoopbackName(%s) != %v", host, want)
		}
	}
}

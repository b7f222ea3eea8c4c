// Package security tries the attacks of issue 8's "Hostile input" list
// against two runtime replicas (with the MCP endpoint, wired as cmd/runtime
// wires it) on a real apiserver, and expects the exact refusal of each.
// docs/reliability.md maps every attack to the test that covers it, here
// or elsewhere.
package security

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

var env *controlplane.Env

// logs captures everything the runtime logs through slog (the default
// logger, which the MCP endpoint, the toolset manager and the bootstrap flow
// use), from the start of the suite, at debug level.
var logs = &capture{}

type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	os.Exit(controlplane.RunSuite(m, &env))
}

const (
	callback        = "https://chatgpt.com/connector/oauth/cb_security"
	gatewayCallback = "https://chatgpt.com/connector/oauth/cb_security_gw"
	password        = "correct horse"
	issuer          = "https://ai.10x.in"
	acmeURL         = "https://acme.mcp.10x.in/mcp"
)

// stack is two runtime replicas with the MCP endpoint on the real apiserver
// and a browser whose requests alternate between them.
type stack struct {
	cfg      *platform.Config
	replicas []*httptest.Server
	errlog   *capture
	next     int
	jar      http.CookieJar
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SignIn.StaticUsersSecret = "security-users"
	c := env.Client
	var users []web.StaticUser
	for _, u := range []string{"alice@example.com", "bob@example.com", "mallory@example.com"} {
		users = append(users, fixtures.User(u, password))
	}
	objs := []ctrlclient.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}},
		fixtures.UsersSecretIn(cfg.Namespace, "security-users", users...),
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{User: "alice@example.com", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.read"}}}}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "beta"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{User: "bob@example.com"}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "sec-acme"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "acme", ClientName: "Security ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{callback}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "sec-gateway"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Gateway: true, ClientName: "Security shared app", RedirectURIs: []mcpv1alpha1.RedirectURI{gatewayCallback}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	s := &stack{cfg: cfg, errlog: &capture{}}
	for range 2 {
		srv := testruntime.NewServer(t, cfg, c, c, "security-users")
		testruntime.MCP(t, env.Config, c)(srv)
		ts := httptest.NewUnstartedServer(srv.Handler())
		ts.Config.ErrorLog = stdlog.New(s.errlog, "", 0)
		ts.StartTLS()
		t.Cleanup(ts.Close)
		s.replicas = append(s.replicas, ts)
	}
	s.jar, _ = cookiejar.New(nil)
	return s
}

// response is an answer with its body read.
type response struct {
	*http.Response
	body string
}

// send sends a request to the next replica whatever host the URL names,
// with the stack's cookies, and does not follow redirects.
func (s *stack) send(t *testing.T, req *http.Request) response {
	t.Helper()
	return s.sendTo(t, s.next, req)
}

func (s *stack) sendTo(t *testing.T, replica int, req *http.Request) response {
	t.Helper()
	resp, body := testruntime.SendTo(t, s.replicas[replica%len(s.replicas)], s.jar, req)
	s.next++
	return response{resp, body}
}

// do sends a form (or nothing) to the next replica.
func (s *stack) do(t *testing.T, method, rawURL string, form url.Values) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return s.send(t, req)
}

// register posts a dynamic registration (a JSON body).
func (s *stack) register(t *testing.T, body []byte) response {
	t.Helper()
	req, _ := http.NewRequest("POST", issuer+"/oauth/register", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return s.send(t, req)
}

const verifier = "security-test-verifier-0123456789-0123456789-0123456789"

func challenge() string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeURL is a valid request of sec-acme for acme; extra replaces
// parameters (an empty value removes one).
func authorizeURL(extra url.Values) string {
	q := url.Values{"client_id": {"sec-acme"}, "redirect_uri": {callback}, "response_type": {"code"}, "state": {"st"},
		"code_challenge": {challenge()}, "code_challenge_method": {"S256"}, "resource": {acmeURL}, "scope": {"mcp.connect skills.read"}}
	for k, v := range extra {
		if len(v) == 1 && v[0] == "" {
			delete(q, k)
			continue
		}
		q[k] = v
	}
	return issuer + "/oauth/authorize?" + q.Encode()
}

// consent sends an authorization request, signs in as alice when there is
// no session yet, and returns the consent page.
func (s *stack) consent(t *testing.T, authURL string) string {
	t.Helper()
	r := s.do(t, "GET", authURL, nil)
	if r.StatusCode == http.StatusFound && strings.HasPrefix(r.Header.Get("Location"), "/ui/login?") {
		login := s.do(t, "GET", issuer+r.Header.Get("Location"), nil)
		form := testruntime.FormFields(t, login.body)
		form.Set("email", "alice@example.com")
		form.Set("password", password)
		r = s.do(t, "POST", issuer+"/ui/login", form)
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d %s", r.StatusCode, r.body)
		}
		r = s.do(t, "GET", issuer+r.Header.Get("Location"), nil)
	}
	if r.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %d %s", r.StatusCode, r.body)
	}
	return r.body
}

// approve approves a consent page and returns the code.
func (s *stack) approve(t *testing.T, page string) string {
	t.Helper()
	form := testruntime.FormFields(t, page)
	form.Set("decision", "approve")
	r := s.do(t, "POST", issuer+"/ui/consent", form)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("approval: %d %s %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	return loc.Query().Get("code")
}

// tokens exchanges a code of sec-acme.
func (s *stack) exchange(t *testing.T, clientID, redirectURI, code string) map[string]any {
	t.Helper()
	r := s.do(t, "POST", issuer+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	var out map[string]any
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("code exchange: %d %s", r.StatusCode, r.body)
	}
	return out
}

// acmeToken runs the whole flow for alice on acme and returns the tokens.
func (s *stack) acmeToken(t *testing.T) map[string]any {
	t.Helper()
	page := s.consent(t, authorizeURL(nil))
	return s.exchange(t, "sec-acme", callback, s.approve(t, page))
}

// rpc posts a JSON-RPC request to an MCP URL.
func (s *stack) rpc(t *testing.T, mcpURL, bearer, method string, headers ...string) response {
	t.Helper()
	msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, method)
	return s.rpcBody(t, mcpURL, bearer, []byte(msg), headers...)
}

func (s *stack) rpcBody(t *testing.T, mcpURL, bearer string, body []byte, headers ...string) response {
	t.Helper()
	req, _ := http.NewRequest("POST", mcpURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return s.send(t, req)
}

// errorCode returns the "error" member of a JSON body.
func errorCode(body string) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error
}

// isErrorPage reports whether an answer is the runtime's error page with
// the status and never a redirect.
func isErrorPage(r response, status int) bool {
	return r.StatusCode == status && r.Header.Get("Location") == "" && strings.Contains(r.body, "<html")
}

package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunSuite(m, &env)) }

const (
	callback = "https://chatgpt.com/connector/oauth/cb_flow"
	password = "wonderland"
)

// stack is two runtime replicas on the real apiserver and a browser-like
// client whose requests alternate between them.
type stack struct {
	cfg      *platform.Config
	replicas []*httptest.Server
	next     int
	jar      http.CookieJar
	keys     oauth.Keys
}

// newStack starts the replicas; each option adjusts every replica's server.
func newStack(t *testing.T, options ...func(*runtime.Server)) *stack {
	t.Helper()
	ctx := context.Background()
	cfg, err := platform.Load("../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SignIn.StaticUsersSecret = "mcp-users"
	c := env.Client
	objs := []ctrlclient.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}},
		fixtures.UsersSecretIn(cfg.Namespace, "mcp-users", fixtures.User("alice@example.com", password), fixtures.User("mallory@example.com", password)),
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{User: "alice@example.com", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.read"}}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "acme-chatgpt"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "acme", ClientName: "ChatGPT <acme>", RedirectURIs: []mcpv1alpha1.RedirectURI{callback}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	s := &stack{cfg: cfg}
	for range 2 {
		srv := testruntime.NewServer(t, cfg, c, c, "mcp-users")
		s.keys = srv.Keys
		for _, option := range options {
			option(srv)
		}
		ts := httptest.NewUnstartedServer(srv.Handler())
		ts.StartTLS()
		t.Cleanup(ts.Close)
		s.replicas = append(s.replicas, ts)
	}
	s.jar, _ = cookiejar.New(nil)
	return s
}

// do sends a form (or nothing) to the next replica.
func (s *stack) do(t *testing.T, method, rawURL string, form url.Values, basicAuth ...string) (*http.Response, string) {
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
	if len(basicAuth) == 2 {
		req.SetBasicAuth(basicAuth[0], basicAuth[1])
	}
	resp := s.send(t, req)
	return resp.Response, resp.body
}

// response is an answer with its body read.
type response struct {
	*http.Response
	body string
}

// send sends a request to the next replica, whatever host the URL names,
// and does not follow redirects.
func (s *stack) send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, body := testruntime.SendTo(t, s.replicas[s.next%len(s.replicas)], s.jar, req)
	s.next++
	return response{resp, body}
}

func pkce() (verifier, challenge string) {
	verifier = "flow-test-verifier-" + strings.Repeat("v", 40)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeURL(challenge string, extra url.Values) string {
	q := url.Values{"client_id": {"acme-chatgpt"}, "redirect_uri": {callback}, "response_type": {"code"}, "state": {"xyz"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {"https://acme.mcp.10x.in/mcp"},
		"scope": {"mcp.connect skills.read"}}
	for k, v := range extra {
		q[k] = v
	}
	return "https://ai.10x.in/oauth/authorize?" + q.Encode()
}

// signIn sends an authorization request without a session, signs in as
// email on the login page and returns the consent page it leads to.
func (s *stack) signIn(t *testing.T, authURL, email string) string {
	t.Helper()
	resp, _ := s.do(t, "GET", authURL, nil)
	_, page := s.do(t, "GET", "https://ai.10x.in"+resp.Header.Get("Location"), nil)
	form := testruntime.FormFields(t, page)
	form.Set("email", email)
	form.Set("password", password)
	resp, body := s.do(t, "POST", "https://ai.10x.in/ui/login", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	_, page = s.do(t, "GET", "https://ai.10x.in"+resp.Header.Get("Location"), nil)
	return page
}

// signInAndApprove walks sign-in and consent and returns the code redirect.
// signInAndApprove signs in as alice, a member of acme, when needed.
func (s *stack) signInAndApprove(t *testing.T, authURL string) *url.URL {
	t.Helper()
	resp, page := s.do(t, "GET", authURL, nil)
	// Without a session the request goes through sign-in first.
	if resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?") {
		_, page = s.do(t, "GET", "https://ai.10x.in"+resp.Header.Get("Location"), nil)
		if strings.Contains(authURL, "client_id=acme-chatgpt") && !strings.Contains(page, "ChatGPT &lt;acme&gt;") {
			t.Errorf("the login page does not show the escaped client name:\n%s", page)
		}
		form := testruntime.FormFields(t, page)
		form.Set("email", "alice@example.com")
		form.Set("password", password)
		var body string
		resp, body = s.do(t, "POST", "https://ai.10x.in/ui/login", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		resp, page = s.do(t, "GET", "https://ai.10x.in"+resp.Header.Get("Location"), nil)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("the consent page can be framed: %v", resp.Header)
	}
	if !strings.Contains(page, "See which tools and skills this handle offers") {
		t.Errorf("the consent page does not describe the scopes:\n%s", page)
	}
	form := testruntime.FormFields(t, page)
	form.Set("decision", "approve")
	resp, body := s.do(t, "POST", "https://ai.10x.in/ui/consent", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent: %d %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (s *stack) token(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, body := s.do(t, "POST", "https://ai.10x.in/oauth/token", form)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token response Cache-Control %q", cc)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("token response %d: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

func TestAuthorizationCodeFlowAcrossReplicas(t *testing.T) {
	s := newStack(t)
	verifier, challenge := pkce()

	_, prm := s.do(t, "GET", "https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp", nil)
	if !strings.Contains(prm, `"authorization_servers":["https://ai.10x.in"]`) {
		t.Fatalf("protected resource metadata: %s", prm)
	}

	loc := s.signInAndApprove(t, authorizeURL(challenge, nil))
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), callback+"?") || q.Get("state") != "xyz" || q.Get("iss") != "https://ai.10x.in" || q.Get("code") == "" {
		t.Fatalf("code redirect %s", loc)
	}

	status, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}, "resource": {"https://acme.mcp.10x.in/mcp"}})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	access := tok["access_token"].(string)
	a, err := s.keys.Keys().VerifyAccess(access, time.Now())
	if err != nil || a.Handle != "acme" || a.Subject != "static#alice@example.com" || tok["scope"] != "mcp.connect skills.read" {
		t.Fatalf("access token %+v (%v), response %v", a, err, tok)
	}

	// The code is single-use: a second exchange revokes the grant.
	status, again := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	if status != http.StatusBadRequest || again["error"] != "invalid_grant" {
		t.Fatalf("reused code: %d %v", status, again)
	}
	if grantExists(t, a.Grant) {
		t.Fatal("a reused code did not revoke its grant")
	}

	// A new authorization (the session is kept: straight to consent), then
	// refresh rotation.
	loc = s.signInAndApprove(t, authorizeURL(challenge, nil))
	_, tok = s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	first := tok["refresh_token"].(string)
	status, rotated := s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}, "client_id": {"acme-chatgpt"}})
	if status != http.StatusOK || rotated["refresh_token"] == first {
		t.Fatalf("refresh: %d %v", status, rotated)
	}
	status, reuse := s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}, "client_id": {"acme-chatgpt"}})
	if status != http.StatusBadRequest || reuse["error"] != "invalid_grant" {
		t.Fatalf("old refresh token: %d %v", status, reuse)
	}
	grant, _ := tokens.ParseOpaque(tokens.RefreshPrefix, first)
	if grantExists(t, grant) {
		t.Fatal("an old refresh token did not revoke the grant")
	}

	// Revocation (RFC 7009) of a fresh grant's refresh token.
	loc = s.signInAndApprove(t, authorizeURL(challenge, nil))
	_, tok = s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	resp, _ := s.do(t, "POST", "https://ai.10x.in/oauth/revoke", url.Values{"token": {tok["refresh_token"].(string)}, "client_id": {"acme-chatgpt"}})
	grant, _ = tokens.ParseOpaque(tokens.RefreshPrefix, tok["refresh_token"].(string))
	if resp.StatusCode != http.StatusOK || grantExists(t, grant) {
		t.Fatalf("revocation: %d, grant still there: %v", resp.StatusCode, grantExists(t, grant))
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	s := newStack(t)
	_, challenge := pkce()
	redirects := []struct {
		name  string
		extra url.Values
		code  string
	}{
		{"missing PKCE", url.Values{"code_challenge": {""}}, "invalid_request"},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		{"shared gateway for a handle client", url.Values{"resource": {"https://ai.10x.in/mcp"}}, "invalid_target"},
		{"another handle", url.Values{"resource": {"https://other.mcp.10x.in/mcp"}}, "invalid_target"},
		{"legacy host", url.Values{"resource": {"https://api.10x.in/mcp"}}, "invalid_target"},
		{"unknown scope", url.Values{"scope": {"mcp.connect links.admin"}}, "invalid_scope"},
		{"implicit flow", url.Values{"response_type": {"token"}}, "unsupported_response_type"},
	}
	for _, tc := range redirects {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, "GET", authorizeURL(challenge, tc.extra), nil)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), callback) || loc.Query().Get("error") != tc.code ||
				loc.Query().Get("state") != "xyz" || loc.Query().Get("iss") != "https://ai.10x.in" {
				t.Errorf("%d %s %s; want a redirect with error=%s, state and iss", resp.StatusCode, resp.Header.Get("Location"), body, tc.code)
			}
		})
	}
	pages := []struct {
		name  string
		extra url.Values
	}{
		{"redirect URI with a trailing slash", url.Values{"redirect_uri": {callback + "/"}}},
		{"redirect URI in another case", url.Values{"redirect_uri": {strings.ToUpper(callback)}}},
		{"redirect URI with a query", url.Values{"redirect_uri": {callback + "?x=1"}}},
		{"unknown client", url.Values{"client_id": {"nobody"}}},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, "GET", authorizeURL(challenge, tc.extra), nil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "<html") {
				t.Errorf("%d Location=%q; want an error page, never a redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}

	// A signed-in user who is not a member of the handle cannot approve.
	page := s.signIn(t, authorizeURL(challenge, nil), "mallory@example.com")
	if !strings.Contains(page, "is not a member of the handle acme") || strings.Contains(page, `value="approve"`) {
		t.Errorf("a non-member may approve:\n%s", page)
	}
	form := testruntime.FormFields(t, page)
	form.Set("decision", "approve")
	if resp, _ := s.do(t, "POST", "https://ai.10x.in/ui/consent", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a forged approval by a non-member: %d", resp.StatusCode)
	}
	form.Set("csrf", "forged")
	if resp, _ := s.do(t, "POST", "https://ai.10x.in/ui/consent", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("consent without a valid CSRF token: %d", resp.StatusCode)
	}
}

func grantExists(t *testing.T, name string) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), types.NamespacedName{Name: name}, &mcpv1alpha1.Connection{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

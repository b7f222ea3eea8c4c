package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

const clientCallback = "https://client.example/cb"

type keys struct{ ks *tokens.KeySet }

func (k keys) Keys() *tokens.KeySet { return k.ks }

type clients struct{}

func (clients) Client(_ context.Context, id string) (*mcpv1alpha1.OAuthClient, error) {
	if id != "c1" {
		return nil, nil
	}
	return &mcpv1alpha1.OAuthClient{Spec: mcpv1alpha1.OAuthClientSpec{ClientName: "Client One", RedirectURIs: []mcpv1alpha1.RedirectURI{clientCallback}}}, nil
}

// upstream is a mockoidc provider whose requests are recorded (and, for some
// tests, altered) on the way in.
type upstream struct {
	*mockoidc.MockOIDC
	mu        sync.Mutex
	authorize url.Values
	token     url.Values
	// rewrite changes the authorization request before the provider sees it.
	rewrite func(q url.Values)
}

func (u *upstream) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		switch r.URL.Path {
		case mockoidc.AuthorizationEndpoint:
			q := r.URL.Query()
			u.authorize = url.Values{}
			for k, v := range q {
				u.authorize[k] = slices.Clone(v)
			}
			if u.rewrite != nil {
				u.rewrite(q)
				r.URL.RawQuery = q.Encode()
			}
		case mockoidc.TokenEndpoint:
			_ = r.ParseForm()
			// x/oauth2 first tries client_secret_basic, which mockoidc does
			// not take; record the request it answers.
			if r.PostForm.Get("client_secret") != "" {
				u.token = r.PostForm
			}
		}
		u.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// newUpstream starts a provider on ln (a fresh loopback listener when nil).
func newUpstream(t *testing.T, ln net.Listener) *upstream {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{MockOIDC: m}
	if err := m.AddMiddleware(u.record); err != nil {
		t.Fatal(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return u
}

// tweakedUser is mockoidc's default user with altered ID token claims.
type tweakedUser struct {
	*mockoidc.MockUser
	tweak func(c jwt.MapClaims)
}

func (u tweakedUser) Claims(scopes []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c, err := u.MockUser.Claims(scopes, base)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m jwt.MapClaims
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	u.tweak(m)
	return m, nil
}

type oidcHarness struct {
	flow   *Flow
	up     *upstream
	sealed string
	now    time.Time
}

func newOIDCHarness(t *testing.T, up *upstream, issuer string) *oidcHarness {
	t.Helper()
	cfg, err := platform.Parse([]byte(`
mcpDomain: mcp.10x.in
gatewayHost: ai.10x.in
namespace: mcp-system
gatewayRefs: [{name: mcp-gateway, namespace: mcp-system}]
runtimeService: {name: mcp-runtime, namespace: mcp-system, port: 8080}
tls: {issuerRef: {name: letsencrypt}}
sharedGateway: {enabled: true}
signIn:
  oidc:
    issuerURL: ` + issuer + `
    clientID: ` + up.ClientID + `
    clientSecretRef: {name: mcp-oidc, key: client-secret}
    scopes: [openid, email, profile, groups]
    groupsClaim: groups
    displayName: Mock IdP
`))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := tokens.NewKeySet("k1", tokens.Key{ID: "k1", Secret: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	h := &oidcHarness{up: up, now: time.Now()}
	o := NewOIDC(cfg, func(context.Context) (string, error) { return up.ClientSecret, nil }, nil)
	o.Timeout, o.RetryAfter = 300*time.Millisecond, time.Millisecond
	h.flow = &Flow{Config: cfg, Clients: clients{}, Keys: keys{ks}, OIDC: o, SessionTTL: time.Hour, Now: func() time.Time { return h.now }}
	h.sealed, err = ks.Seal("authorize", oauth.AuthorizeRequest{ClientID: "c1", RedirectURI: clientCallback, State: "xyz",
		CodeChallenge: strings.Repeat("c", 43), Resource: "https://acme.mcp.10x.in/mcp", Handle: "acme",
		Scopes: []mcpv1alpha1.Scope{"mcp.connect"}, Kind: platform.ResourceHosted}, h.now.Add(requestTTL))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// start asks the runtime to start a sign-in; it returns the answer.
func (h *oidcHarness) start(t *testing.T) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.flow.OIDCStart(rec, httptest.NewRequest("GET", "https://ai.10x.in"+OIDCStartPath+"?"+url.Values{"req": {h.sealed}}.Encode(), nil))
	return rec.Result()
}

// leave starts a sign-in and lets the provider answer; it returns the flow
// cookie and the callback URL the provider sends the browser to.
func (h *oidcHarness) leave(t *testing.T) (*http.Cookie, *url.URL) {
	t.Helper()
	resp := h.start(t)
	if resp.StatusCode != http.StatusFound || len(resp.Cookies()) != 1 {
		t.Fatalf("start: %d %v", resp.StatusCode, resp.Header)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	up, err := hc.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	_ = up.Body.Close()
	back, err := url.Parse(up.Header.Get("Location"))
	if up.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("provider: %d %s", up.StatusCode, up.Header.Get("Location"))
	}
	return resp.Cookies()[0], back
}

// back delivers the provider's answer to the runtime with the cookies.
func (h *oidcHarness) back(t *testing.T, u *url.URL, cookies ...*http.Cookie) (*httptest.ResponseRecorder, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "https://ai.10x.in"+u.RequestURI(), nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.flow.OIDCCallback(rec, req)
	return rec, rec.Body.String()
}

func sessionOf(t *testing.T, h *oidcHarness, rec *httptest.ResponseRecorder) *Session {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			req.AddCookie(c)
		}
	}
	return readSession(req, h.flow.Keys.Keys(), h.now)
}

func TestOIDCSignIn(t *testing.T) {
	up := newUpstream(t, nil)
	h := newOIDCHarness(t, up, up.Issuer())

	// The login page offers the provider (and no password form without
	// static users).
	rec := httptest.NewRecorder()
	h.flow.LoginPage(rec, httptest.NewRequest("GET", "/ui/login?"+url.Values{"req": {h.sealed}}.Encode(), nil))
	page := rec.Body.String()
	if !strings.Contains(page, "Sign in with Mock IdP") || !strings.Contains(page, `href="/ui/oidc/start?req=`) || strings.Contains(page, `type="password"`) {
		t.Errorf("login page:\n%s", page)
	}
	rec = httptest.NewRecorder()
	h.flow.Login(rec, httptest.NewRequest("POST", "/ui/login", strings.NewReader("email=a%40b.c&password=x")))
	if rec.Code != http.StatusNotFound {
		t.Errorf("password sign-in without static users: %d", rec.Code)
	}

	cookie, cb := h.leave(t)
	if !strings.HasPrefix(cookie.Name, "__Host-") || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge != 600 {
		t.Errorf("flow cookie %+v", cookie)
	}
	a := up.authorize
	if a.Get("code_challenge_method") != "S256" || len(a.Get("code_challenge")) != 43 || a.Get("nonce") == "" || a.Get("state") == "" ||
		a.Get("redirect_uri") != "https://ai.10x.in/ui/oidc/callback" || a.Get("scope") != "openid email profile groups" || a.Get("response_type") != "code" {
		t.Errorf("authorization request at the provider: %v", a)
	}
	rec, body := h.back(t, cb, cookie)
	resume := "/ui/consent?" + url.Values{"req": {h.sealed}}.Encode()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != resume {
		t.Fatalf("callback: %d %s %s", rec.Code, rec.Header().Get("Location"), body)
	}
	// PKCE: the verifier sent with the code is the one the challenge hashes.
	sum := sha256.Sum256([]byte(up.token.Get("code_verifier")))
	if v := up.token.Get("code_verifier"); len(v) < 43 || base64.RawURLEncoding.EncodeToString(sum[:]) != a.Get("code_challenge") {
		t.Errorf("code verifier %q does not match the challenge %q", v, a.Get("code_challenge"))
	}
	s := sessionOf(t, h, rec)
	if s == nil || s.Email != "jane.doe@example.com" || s.Subject != up.Issuer()+"#1234567890" || !slices.Equal(s.Groups, []string{"engineering", "design"}) || s.Nonce == "" {
		t.Fatalf("session %+v", s)
	}
	// The flow cookie is spent: the same answer again is refused.
	var cleared bool
	for _, c := range rec.Result().Cookies() {
		cleared = cleared || (c.Name == cookie.Name && c.MaxAge < 0)
	}
	if !cleared {
		t.Error("the flow cookie is not cleared")
	}
}

func TestOIDCCallbackRefusals(t *testing.T) {
	up := newUpstream(t, nil)
	h := newOIDCHarness(t, up, up.Issuer())

	refused := func(t *testing.T, rec *httptest.ResponseRecorder, body string, status int, want string) {
		t.Helper()
		if rec.Code != status || rec.Header().Get("Location") != "" || !strings.Contains(body, want) || !strings.Contains(body, "<html") {
			t.Errorf("%d Location=%q, want %d and a page saying %q:\n%s", rec.Code, rec.Header().Get("Location"), status, want, body)
		}
		if s := sessionOf(t, h, rec); s != nil {
			t.Errorf("signed in as %+v", s)
		}
	}
	badState := "does not match a sign-in started in this browser"

	t.Run("no flow cookie", func(t *testing.T) {
		_, cb := h.leave(t)
		rec, body := h.back(t, cb)
		refused(t, rec, body, http.StatusBadRequest, badState)
	})
	t.Run("another browser's state", func(t *testing.T) {
		cookie, _ := h.leave(t)
		_, cb := h.leave(t)
		cookie.Name = oidcCookie(cb.Query().Get("state"))
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusBadRequest, badState)
	})
	t.Run("altered state", func(t *testing.T) {
		cookie, cb := h.leave(t)
		q := cb.Query()
		q.Set("state", q.Get("state")+"x")
		cb.RawQuery = q.Encode()
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusBadRequest, badState)
	})
	t.Run("forged cookie", func(t *testing.T) {
		cookie, cb := h.leave(t)
		cookie.Value = strings.Replace(cookie.Value, ".", "x.", 1)
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusBadRequest, badState)
	})
	t.Run("expired flow", func(t *testing.T) {
		cookie, cb := h.leave(t)
		defer func(now time.Time) { h.now = now }(h.now)
		h.now = h.now.Add(oidcFlowTTL + time.Second)
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusBadRequest, badState)
	})
	t.Run("provider error", func(t *testing.T) {
		cookie, cb := h.leave(t)
		cb.RawQuery = url.Values{"state": {cb.Query().Get("state")}, "error": {"access_denied"}, "error_description": {"<b>user cancelled</b>"}}.Encode()
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusForbidden, "Mock IdP did not sign you in: access_denied (&lt;b&gt;user cancelled&lt;/b&gt;)")
	})
	t.Run("answer from another issuer", func(t *testing.T) {
		cookie, cb := h.leave(t)
		q := cb.Query()
		q.Set("iss", "https://evil.example")
		cb.RawQuery = q.Encode()
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusBadRequest, "comes from another issuer than Mock IdP")
	})
	t.Run("failed exchange", func(t *testing.T) {
		cookie, cb := h.leave(t)
		q := cb.Query()
		q.Set("code", "not-a-code")
		cb.RawQuery = q.Encode()
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusBadGateway, "Mock IdP did not accept the sign-in")
	})
	t.Run("replayed code", func(t *testing.T) {
		cookie, cb := h.leave(t)
		if rec, body := h.back(t, cb, cookie); rec.Code != http.StatusSeeOther {
			t.Fatalf("first use: %d %s", rec.Code, body)
		}
		// Another flow of this browser, answered with the spent code.
		cookie2, cb2 := h.leave(t)
		q := cb2.Query()
		q.Set("code", cb.Query().Get("code"))
		cb2.RawQuery = q.Encode()
		rec, body := h.back(t, cb2, cookie2)
		refused(t, rec, body, http.StatusBadGateway, "Mock IdP did not accept the sign-in")
	})
	t.Run("wrong nonce", func(t *testing.T) {
		up.rewrite = func(q url.Values) { q.Set("nonce", "someone-elses-nonce") }
		defer func() { up.rewrite = nil }()
		cookie, cb := h.leave(t)
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusBadGateway, "was not issued for this sign-in")
	})
	t.Run("no PKCE verifier match", func(t *testing.T) {
		// The provider sees another challenge than the one whose verifier
		// the runtime holds: the exchange fails.
		up.rewrite = func(q url.Values) { q.Set("code_challenge", strings.Repeat("A", 43)) }
		defer func() { up.rewrite = nil }()
		cookie, cb := h.leave(t)
		rec, body := h.back(t, cb, cookie)
		refused(t, rec, body, http.StatusBadGateway, "Mock IdP did not accept the sign-in")
	})
	claims := []struct {
		name   string
		tweak  func(c jwt.MapClaims)
		status int
		want   string
	}{
		{"wrong audience", func(c jwt.MapClaims) { c["aud"] = "another-client" }, http.StatusBadGateway, "the ID token from Mock IdP is invalid"},
		{"wrong issuer", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }, http.StatusBadGateway, "the ID token from Mock IdP is invalid"},
		{"expired", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Minute).Unix() }, http.StatusBadGateway, "the ID token from Mock IdP is invalid"},
		{"unverified email", func(c jwt.MapClaims) { c["email_verified"] = false }, http.StatusForbidden, "Mock IdP has not verified your email address jane.doe@example.com"},
		{"unverified email as a string", func(c jwt.MapClaims) { c["email_verified"] = "false" }, http.StatusForbidden, "has not verified your email address"},
		{"no email", func(c jwt.MapClaims) { delete(c, "email") }, http.StatusForbidden, "Mock IdP did not share your email address"},
		{"groups of another type", func(c jwt.MapClaims) { c["groups"] = map[string]any{"a": 1} }, http.StatusBadGateway, "the ID token from Mock IdP is invalid"},
	}
	for _, tc := range claims {
		t.Run(tc.name, func(t *testing.T) {
			up.QueueUser(tweakedUser{mockoidc.DefaultUser(), tc.tweak})
			cookie, cb := h.leave(t)
			rec, body := h.back(t, cb, cookie)
			refused(t, rec, body, tc.status, tc.want)
		})
	}

	// The same provider with tolerable variations signs in.
	accepted := []struct {
		name   string
		tweak  func(c jwt.MapClaims)
		groups []string
	}{
		{"email_verified absent", func(c jwt.MapClaims) { delete(c, "email_verified") }, []string{"engineering", "design"}},
		{"email_verified as a string", func(c jwt.MapClaims) { c["email_verified"] = "true" }, []string{"engineering", "design"}},
		{"one group as a string", func(c jwt.MapClaims) { c["groups"] = "ops" }, []string{"ops"}},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			up.QueueUser(tweakedUser{mockoidc.DefaultUser(), tc.tweak})
			cookie, cb := h.leave(t)
			rec, body := h.back(t, cb, cookie)
			if s := sessionOf(t, h, rec); rec.Code != http.StatusSeeOther || s == nil || !slices.Equal(s.Groups, tc.groups) {
				t.Errorf("%d %+v %s", rec.Code, s, body)
			}
		})
	}
}

// TestOIDCDiscoveryIsLazy: the runtime starts while the provider is down;
// sign-in reports it (within the timeout) and works once it is up.
func TestOIDCDiscoveryIsLazy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The listener accepts connections that nobody answers yet.
	issuer := "http://" + ln.Addr().String() + mockoidc.IssuerBase
	m, _ := mockoidc.NewServer(nil)
	h := newOIDCHarness(t, &upstream{MockOIDC: m}, issuer)
	began := time.Now()
	resp := h.start(t)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Location") != "" || time.Since(began) > 5*time.Second {
		t.Fatalf("start while the provider is down: %d after %s", resp.StatusCode, time.Since(began))
	}

	up := newUpstream(t, ln)
	up.ClientID, up.ClientSecret = m.ClientID, m.ClientSecret
	h.up = up
	time.Sleep(5 * time.Millisecond) // past RetryAfter
	cookie, cb := h.leave(t)
	if rec, body := h.back(t, cb, cookie); rec.Code != http.StatusSeeOther || sessionOf(t, h, rec) == nil {
		t.Fatalf("callback after the provider came up: %d %s", rec.Code, body)
	}
}

func TestOIDCNotConfigured(t *testing.T) {
	f := &Flow{}
	for _, h := range []http.HandlerFunc{f.OIDCStart, f.OIDCCallback} {
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest("GET", "/ui/oidc/callback?state=abcdefghij&code=x", nil))
		if rec.Code != http.StatusNotFound || rec.Header().Get("Location") != "" {
			t.Errorf("%d %v", rec.Code, rec.Header())
		}
	}
}

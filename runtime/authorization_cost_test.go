package runtime_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

// countingClient counts the writes that reach the apiserver.
type countingClient struct {
	client.Client
	writes atomic.Int64
}

func (c *countingClient) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	c.writes.Add(1)
	return c.Client.Create(ctx, o, opts...)
}

func (c *countingClient) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	c.writes.Add(1)
	return c.Client.Update(ctx, o, opts...)
}

func (c *countingClient) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	c.writes.Add(1)
	return c.Client.Patch(ctx, o, p, opts...)
}

func (c *countingClient) Delete(ctx context.Context, o client.Object, opts ...client.DeleteOption) error {
	c.writes.Add(1)
	return c.Client.Delete(ctx, o, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), writes: &c.writes}
}

type countingStatus struct {
	client.SubResourceWriter
	writes *atomic.Int64
}

func (s *countingStatus) Update(ctx context.Context, o client.Object, opts ...client.SubResourceUpdateOption) error {
	s.writes.Add(1)
	return s.SubResourceWriter.Update(ctx, o, opts...)
}

func (s *countingStatus) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	s.writes.Add(1)
	return s.SubResourceWriter.Patch(ctx, o, p, opts...)
}

// The apiserver writes of one authorization (consent, then the code
// exchange) and of one refresh, counted against the real apiserver.
// docs/performance.md quotes these numbers.
func TestWritesPerAuthorizationAndRefresh(t *testing.T) {
	counted := &countingClient{Client: env.Client}
	s := newStack(t, func(srv *runtime.Server) {
		srv.Grants = &grants.Store{Client: counted, Reader: env.Client, CodeTTL: time.Minute, Now: time.Now}
		srv.Registry = &registry.Registry{Client: counted, Config: srv.Config, Namespace: srv.Config.Namespace}
	})
	verifier, challenge := pkce()
	s.signInAndApprove(t, authorizeURL(challenge, nil)) // signs in; its writes are not counted below

	counted.writes.Store(0)
	loc := s.signInAndApprove(t, authorizeURL(challenge, nil))
	consent := counted.writes.Load()
	status, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	authorization := counted.writes.Load()
	status, out := s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {"acme-chatgpt"}})
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, out)
	}
	refresh := counted.writes.Load() - authorization
	t.Logf("apiserver writes: consent %d, authorization (consent + code exchange) %d, refresh %d", consent, authorization, refresh)
	// The grant is created with its code's annotation at consent, the
	// annotation updated at exchange and on each refresh.
	if consent != 1 || authorization != 2 || refresh != 1 {
		t.Errorf("writes: consent %d, authorization %d, refresh %d; want 1, 2, 1", consent, authorization, refresh)
	}
}

// benchRuntime is one runtime whose objects live in memory, so the benchmark
// measures the runtime's own work (parsing, sealing, templates, hashing,
// signing) and none of the apiserver's.
type benchRuntime struct {
	handler http.Handler
	jar     http.CookieJar
}

func newBenchRuntime(b *testing.B) *benchRuntime {
	b.Helper()
	cfg, err := platform.Load("../config/platform/platform.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cfg.SignIn.StaticUsersSecret = "mcp-users"
	c := newMemoryClient(
		fixtures.UsersSecretIn(cfg.Namespace, "mcp-users", fixtures.User("alice@example.com", password)),
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{User: "alice@example.com", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read"}}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "acme-chatgpt"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "acme", ClientName: "ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{callback}, Registration: mcpv1alpha1.RegistrationDeclared}},
	)
	srv := testruntime.NewServer(b, cfg, c, c, "mcp-users")
	jar, _ := cookiejar.New(nil)
	return &benchRuntime{handler: srv.Handler(), jar: jar}
}

// do serves one request in process, carrying cookies like a browser.
func (r *benchRuntime) do(method, rawURL string, form url.Values) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, rawURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, rawURL, nil)
	}
	for _, c := range r.jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	r.jar.SetCookies(req.URL, rec.Result().Cookies())
	return rec
}

// signIn signs alice in, so authorizations go straight to consent.
func (r *benchRuntime) signIn(b *testing.B, challenge string) {
	rec := r.do("GET", authorizeURL(challenge, nil), nil)
	login := r.do("GET", "https://ai.10x.in"+rec.Header().Get("Location"), nil)
	form := testruntime.FormFields(b, login.Body.String())
	form.Set("email", "alice@example.com")
	form.Set("password", password)
	if rec := r.do("POST", "https://ai.10x.in/ui/login", form); rec.Code != http.StatusSeeOther {
		b.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
}

// authorize runs authorize → consent → token for a signed-in user and
// returns the refresh token.
func (r *benchRuntime) authorize(b *testing.B, verifier, challenge string) string {
	rec := r.do("GET", authorizeURL(challenge, nil), nil)
	form := testruntime.FormFields(b, rec.Body.String())
	form.Set("decision", "approve")
	rec = r.do("POST", "https://ai.10x.in/ui/consent", form)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	rec = r.do("POST", "https://ai.10x.in/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {"acme-chatgpt"}, "redirect_uri": {callback}, "code_verifier": {verifier}})
	if rec.Code != http.StatusOK {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return refreshTokenOf(b, rec.Body.String())
}

var refreshField = `"refresh_token":"`

func refreshTokenOf(b *testing.B, body string) string {
	i := strings.Index(body, refreshField)
	if i < 0 {
		b.Fatalf("no refresh token in %s", body)
	}
	rest := body[i+len(refreshField):]
	return rest[:strings.IndexByte(rest, '"')]
}

// BenchmarkAuthorizeAndToken is one authorization of a signed-in user: the
// authorize request and consent page, the approval, the code exchange.
// Writes go to an in-memory client; TestWritesPerAuthorizationAndRefresh
// counts what they cost on the apiserver.
func BenchmarkAuthorizeAndToken(b *testing.B) {
	r := newBenchRuntime(b)
	verifier, challenge := pkce()
	r.signIn(b, challenge)
	b.ReportAllocs()
	for b.Loop() {
		r.authorize(b, verifier, challenge)
	}
}

// BenchmarkRefresh is one refresh-token rotation.
func BenchmarkRefresh(b *testing.B) {
	r := newBenchRuntime(b)
	verifier, challenge := pkce()
	r.signIn(b, challenge)
	refresh := r.authorize(b, verifier, challenge)
	b.ReportAllocs()
	for b.Loop() {
		rec := r.do("POST", "https://ai.10x.in/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"acme-chatgpt"}})
		if rec.Code != http.StatusOK {
			b.Fatalf("refresh: %d %s", rec.Code, rec.Body)
		}
		refresh = refreshTokenOf(b, rec.Body.String())
	}
}

package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

const oidcCallback = "https://chatgpt.com/connector/oauth/cb_oidc"

var oidcStartLink = regexp.MustCompile(`href="(/ui/oidc/start\?[^"]+)"`)

// TestOIDCSignInAcrossReplicas signs in through a real OpenID Connect
// provider (mockoidc: discovery, JWKS, code exchange with PKCE, nonce)
// while the browser's requests alternate between two replicas: the one that
// finishes the sign-in is not the one that started it. The user gets the
// handle through a group the provider asserts.
func TestOIDCSignInAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var authorize, token url.Values
	_ = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			switch r.URL.Path {
			case mockoidc.AuthorizationEndpoint:
				authorize = r.URL.Query()
			case mockoidc.TokenEndpoint:
				// x/oauth2 tries client_secret_basic first, which mockoidc
				// refuses; keep the request it answers.
				if r.ParseForm() == nil && r.PostForm.Get("client_secret") != "" {
					token = r.PostForm
				}
			}
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })

	c := env.Client
	objs := []ctrlclient.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mcp-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp-oidc", Namespace: "mcp-system"}, Data: map[string][]byte{"client-secret": []byte(m.ClientSecret + "\n")}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "engineering"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{Group: "engineering", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read"}}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "engineering-chatgpt"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "engineering", ClientName: "ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{oidcCallback}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	s := newStack(t, func(srv *runtime.Server) {
		cfg := *srv.Config
		cfg.SignIn.OIDC = &platform.OIDCSignIn{IssuerURL: m.Issuer(), ClientID: m.ClientID, ClientSecretRef: platform.SecretKeyRef{Name: "mcp-oidc", Key: "client-secret"},
			Scopes: []string{"openid", "email", "groups"}, GroupsClaim: "groups", DisplayName: "Mock IdP"}
		secret := web.SecretValue{Reader: c, Namespace: cfg.Namespace, Name: "mcp-oidc", Key: "client-secret"}
		// Each replica discovers the provider on its own.
		srv.OIDC = web.NewOIDC(&cfg, secret.Get, nil)
	})

	verifier, challenge := pkce()
	q := url.Values{"client_id": {"engineering-chatgpt"}, "redirect_uri": {oidcCallback}, "response_type": {"code"}, "state": {"st-1"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {"https://engineering.mcp.10x.in/mcp"}, "scope": {"mcp.connect skills.read"}}
	resp, body := s.do(t, "GET", "https://ai.10x.in/oauth/authorize?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?") {
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	_, page := s.do(t, "GET", "https://ai.10x.in"+resp.Header.Get("Location"), nil)
	link := oidcStartLink.FindStringSubmatch(page)
	if link == nil || !strings.Contains(page, "Sign in with Mock IdP") || !strings.Contains(page, `type="password"`) {
		t.Fatalf("the login page offers no provider (or lost the password form):\n%s", page)
	}

	// Replica A sends the browser to the provider.
	resp, body = s.do(t, "GET", "https://ai.10x.in"+html.UnescapeString(link[1]), nil)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), m.AuthorizationEndpoint()+"?") {
		t.Fatalf("start: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// The provider signs the user in and sends the browser back.
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	up, err := hc.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	_ = up.Body.Close()
	back := up.Header.Get("Location")
	if up.StatusCode != http.StatusFound || !strings.HasPrefix(back, "https://ai.10x.in/ui/oidc/callback?") {
		t.Fatalf("provider: %d %s", up.StatusCode, back)
	}
	mu.Lock()
	if authorize.Get("code_challenge_method") != "S256" || authorize.Get("nonce") == "" || authorize.Get("client_id") != m.ClientID {
		t.Errorf("authorization request at the provider: %v", authorize)
	}
	mu.Unlock()

	// Replica B finishes the sign-in and resumes the authorization request.
	resp, body = s.do(t, "GET", back, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/consent?req=") {
		t.Fatalf("callback: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	mu.Lock()
	sum := sha256.Sum256([]byte(token.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != authorize.Get("code_challenge") {
		t.Errorf("the code exchange's verifier does not match the challenge: %v", token)
	}
	mu.Unlock()
	a := s.approveAsSignedIn(t, resp.Header.Get("Location"), "jane.doe@example.com", "consent page",
		oidcCallback, "st-1", "engineering-chatgpt", verifier)
	if a.Handle != "engineering" || a.Subject != m.Issuer()+"#1234567890" {
		t.Fatalf("access token %+v", a)
	}

	// The provider's answer cannot be replayed: the flow cookie is spent.
	resp, body = s.do(t, "GET", back, nil)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "does not match a sign-in started in this browser") {
		t.Fatalf("replayed callback: %d %s", resp.StatusCode, body)
	}
}

// approveAsSignedIn follows the callback's redirect to the consent page of
// the user signed in upstream (email), approves, checks the code redirect
// (callback, state), exchanges the code and returns the verified access
// token, whose grant records the user.
func (s *stack) approveAsSignedIn(t *testing.T, consentPath, email, what, callback, state, clientID, verifier string) tokens.Access {
	t.Helper()
	resp, page := s.do(t, "GET", "https://ai.10x.in"+consentPath, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "as "+email) || !strings.Contains(page, `value="approve"`) {
		t.Fatalf("%s: %d\n%s", what, resp.StatusCode, page)
	}
	form := testruntime.FormFields(t, page)
	form.Set("decision", "approve")
	resp, body := s.do(t, "POST", "https://ai.10x.in/ui/consent", form)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), callback+"?") || loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		t.Fatalf("consent: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	status, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {clientID},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	a, err := s.keys.Keys().VerifyAccess(tok["access_token"].(string), time.Now())
	if err != nil {
		t.Fatalf("access token %v", err)
	}
	var grant mcpv1alpha1.Connection
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: a.Grant}, &grant); err != nil || grant.Spec.Email != email || grant.Spec.Subject != a.Subject {
		t.Fatalf("grant %+v (%v)", grant.Spec, err)
	}
	return a
}

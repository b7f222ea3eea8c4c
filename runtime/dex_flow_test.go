package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
	"github.com/10xdotin/mcp-handle-operator/test/framework/dex"
)

const (
	dexCallback     = "https://chatgpt.com/connector/oauth/cb_dex"
	dexClientSecret = "dex-client-secret-for-the-runtime"
	dexPassword     = "through-the-looking-glass"
)

// TestDexSignIn signs in through Dex, a real OpenID Connect provider built
// from its Go module (hack/build-dex.sh), with a plain HTTP client following
// Dex's own pages: the runtime's "Sign in with Dex" link, Dex's login form,
// the callback, consent, the code and the token, on two replicas against
// the real apiserver. Dex is down when the runtime starts: the runtime
// serves, the link says the provider cannot be reached, and sign-in works
// once Dex is up. A wrong password at Dex shows Dex's form again and never
// reaches the runtime. The user gets the handle only through a group Dex
// asserts.
func TestDexSignIn(t *testing.T) {
	ctx := context.Background()
	bin, err := dex.Binary()
	if err != nil {
		t.Fatal(err)
	}
	// The issuer is fixed before Dex runs, as a runtime configured for a
	// provider that is down.
	addr, err := dex.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	issuer := dex.IssuerURL(addr)

	c := env.Client
	objs := []ctrlclient.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mcp-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp-dex", Namespace: "mcp-system"}, Data: map[string][]byte{"client-secret": []byte(dexClientSecret)}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "research"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{Group: "research", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read"}}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "research-chatgpt"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "research", ClientName: "ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{dexCallback}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	var redirectURI string
	s := newStack(t, func(srv *runtime.Server) {
		cfg := *srv.Config
		cfg.SignIn.OIDC = &platform.OIDCSignIn{IssuerURL: issuer, ClientID: "mcp-runtime", ClientSecretRef: platform.SecretKeyRef{Name: "mcp-dex", Key: "client-secret"},
			Scopes: []string{"openid", "email", "profile", "groups"}, GroupsClaim: "groups", DisplayName: "Dex"}
		// The configuration is valid as a file: http is accepted on loopback.
		if data, err := json.Marshal(&cfg); err != nil {
			t.Fatal(err)
		} else if _, err := platform.Parse(data); err != nil {
			t.Fatalf("platform configuration with Dex: %v", err)
		}
		secret := web.SecretValue{Reader: c, Namespace: cfg.Namespace, Name: "mcp-dex", Key: "client-secret"}
		o := web.NewOIDC(&cfg, secret.Get, nil)
		// Retry discovery soon after the failure while Dex was down.
		o.RetryAfter = 200 * time.Millisecond
		srv.OIDC = o
		redirectURI = cfg.OIDCRedirectURL()
	})

	verifier, challenge := pkce()
	q := url.Values{"client_id": {"research-chatgpt"}, "redirect_uri": {dexCallback}, "response_type": {"code"}, "state": {"st-dex"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {"https://research.mcp.10x.in/mcp"}, "scope": {"mcp.connect skills.read"}}
	resp, body := s.do(t, "GET", "https://ai.10x.in/oauth/authorize?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?") {
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	_, page := s.do(t, "GET", "https://ai.10x.in"+resp.Header.Get("Location"), nil)
	link := oidcStartLink.FindStringSubmatch(page)
	if link == nil || !strings.Contains(page, "Sign in with Dex") {
		t.Fatalf("the login page offers no Dex sign-in:\n%s", page)
	}
	start := "https://ai.10x.in" + html.UnescapeString(link[1])

	// Dex is down: both replicas say so, on a page, without redirecting.
	for range 2 {
		resp, body = s.do(t, "GET", start, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Location") != "" || !strings.Contains(body, "Dex cannot be reached") {
			t.Fatalf("start while Dex is down: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}

	began := time.Now()
	d, err := dex.Start(ctx, bin, dex.Config{
		Addr: addr, Dir: t.TempDir(),
		Users:   []dex.User{{Email: "grace@example.com", Password: dexPassword, Username: "grace", UserID: "5c1e7a4e-grace", Groups: []string{"research", "staff"}}},
		Clients: []dex.Client{{ID: "mcp-runtime", Secret: dexClientSecret, RedirectURIs: []string{redirectURI}, Name: "MCP"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	t.Logf("dex %s up in %s (%s)", d.Issuer, time.Since(began).Round(time.Millisecond), d.Process.LogPath)
	time.Sleep(250 * time.Millisecond) // past RetryAfter

	// The browser at Dex: its own cookies, no redirects followed for it.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	toDex := func() string {
		t.Helper()
		resp, body := s.do(t, "GET", start, nil)
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), issuer+"/auth?") {
			t.Fatalf("start: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		return resp.Header.Get("Location")
	}

	// A wrong password: Dex shows its form again; nothing comes back.
	if back, err := dex.Login(ctx, browser, toDex(), "grace@example.com", "not-"+dexPassword); !errors.Is(err, dex.ErrLoginFailed) {
		t.Fatalf("wrong password at Dex: %q, %v", back, err)
	}

	back, err := dex.Login(ctx, browser, toDex(), "grace@example.com", dexPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back, redirectURI+"?") {
		t.Fatalf("Dex sent the browser to %s", back)
	}
	resp, body = s.do(t, "GET", back, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/consent?req=") {
		t.Fatalf("callback: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	a := s.approveAsSignedIn(t, resp.Header.Get("Location"), "grace@example.com", "consent page (membership through Dex's groups)",
		dexCallback, "st-dex", "research-chatgpt", verifier)
	if a.Handle != "research" || !strings.HasPrefix(a.Subject, issuer+"#") || len(a.Subject) == len(issuer+"#") {
		t.Fatalf("access token %+v", a)
	}

	// Dex's answer cannot be replayed: the flow cookie is spent.
	resp, body = s.do(t, "GET", back, nil)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("replayed callback: %d %s", resp.StatusCode, body)
	}
}

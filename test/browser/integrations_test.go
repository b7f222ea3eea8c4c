// Package browser_test drives the runtime's pages in a real headless
// Chromium (Debian's chromium package, see hack/chromium.sh) with chromedp:
// sign-in, consent, and the "Integrations -> MCP & Tools" page, against a
// runtime on a real apiserver that reads through an informer cache as in
// production.
package browser_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testbrowser"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunSuite(m, &env)) }

const (
	email    = "ada@acme.example"
	password = "correct horse"
	callback = "https://chatgpt.com/connector/oauth/cb_browser"
	// A native app's private-use callback (RFC 8252 section 7.1).
	cursorCallback = "cursor://anysphere.cursor-mcp/oauth/callback"
	// A client chooses its own name; the page must show it as text.
	hostileName = `<img src=x onerror=alert(document.domain)>ChatGPT "acme"`
)

// artifacts returns the folder for this run's screenshots:
// test/artifacts/browser/<test>/, emptied first and ignored by git.
func artifacts(t *testing.T) string {
	t.Helper()
	root := filepath.Join(controlplane.RepoRoot(), "test", "artifacts")
	dir := filepath.Join(root, "browser", t.Name())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".gitignore"), []byte("# test artifacts (screenshots), never committed\n*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startRuntime runs one runtime replica over TLS, reading handles, clients
// and grants through an informer cache, as cmd/runtime does.
func startRuntime(t *testing.T) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg, err := platform.Load(filepath.Join(controlplane.RepoRoot(), "config", "platform", "platform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SignIn.StaticUsersSecret = "mcp-users"
	c := env.Client
	objs := []ctrlclient.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}},
		fixtures.UsersSecretIn(cfg.Namespace, "mcp-users", fixtures.User(email, password)),
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{User: email, Role: mcpv1alpha1.MemberRoleAdmin}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "acme-chatgpt"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "acme", ClientName: hostileName, RedirectURIs: []mcpv1alpha1.RedirectURI{callback}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "acme-cursor"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "acme", ClientName: "Cursor", RedirectURIs: []mcpv1alpha1.RedirectURI{cursorCallback}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	informers, err := cache.New(env.Config, cache.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	srv := testruntime.NewServer(t, cfg, informers, c, "mcp-users")
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// browser starts headless Chromium with a fresh profile. Every name the test
// uses resolves to the test server (and nothing else resolves), and only the
// test server's own key is trusted despite its certificate not naming those
// hosts.
func browser(t *testing.T, ts *httptest.Server) context.Context {
	t.Helper()
	port := ts.Listener.Addr().(*net.TCPAddr).Port
	spki := sha256.Sum256(ts.Certificate().RawSubjectPublicKeyInfo)
	target := fmt.Sprintf("127.0.0.1:%d", port)
	return testbrowser.Start(t, testbrowser.ChromiumPath(t),
		fmt.Sprintf("MAP ai.10x.in %[1]s, MAP *.mcp.10x.in %[1]s, MAP chatgpt.com %[1]s, MAP * ~NOTFOUND", target),
		base64.StdEncoding.EncodeToString(spki[:]))
}

func TestIntegrationsPageInChromium(t *testing.T) {
	testbrowser.ChromiumPath(t)
	dir := artifacts(t)
	ts := startRuntime(t)
	ctx := browser(t, ts)
	var dialogs atomic.Int32
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}

	steps := &testbrowser.Steps{T: t, Ctx: ctx, Dir: dir, Timeout: 20 * time.Second}
	run, text, screenshot := steps.Run, steps.Text, steps.Screenshot

	// No session: the page sends the browser to sign in, then back.
	run("open the page", chromedp.Navigate("https://ai.10x.in/ui/integrations"), chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != "https://ai.10x.in/ui/login?next=%2Fui%2Fintegrations" {
		t.Fatalf("without a session the page went to %s", loc)
	}
	screenshot("login")
	run("sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#handle-acme`)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != "https://ai.10x.in/ui/integrations" {
		t.Fatalf("after sign-in the browser is at %s", loc)
	}
	for sel, want := range map[string]string{
		`#handle-acme [data-url="hosted"]`:                  "https://acme.mcp.10x.in/mcp",
		`#handle-acme [data-url="gateway"]`:                 "https://ai.10x.in/mcp",
		`#handle-acme [data-url="compatibility"]`:           "https://ai.10x.in/mcp/acme/mcp",
		`#handle-acme [data-command]`:                       "mcpctl setup-chatgpt-mcp-oauth --handle acme --redirect-uri https://chatgpt.com/connector/oauth/<callback_id>",
		`#handle-acme [data-role]`:                          "Admin",
		`#handle-acme tr[data-client-id="acme-chatgpt"] td`: hostileName,
	} {
		if got := text(sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	screenshot("integrations-before")

	// Approve the connector: the signed-in browser goes straight to consent.
	challenge := pkce()
	authorize := "https://ai.10x.in/oauth/authorize?" + url.Values{"client_id": {"acme-chatgpt"}, "redirect_uri": {callback},
		"response_type": {"code"}, "state": {"browser"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"resource": {"https://acme.mcp.10x.in/mcp"}, "scope": {"mcp.connect skills.read"}}.Encode()
	run("open consent", chromedp.Navigate(authorize), chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`)))
	if got := text("main p strong"); got != hostileName {
		t.Errorf("the consent page shows the client name as %q", got)
	}
	screenshot("consent")
	run("approve", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), testbrowser.WaitLocation(callback+"?"))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	u, _ := url.Parse(loc)
	grant, ok := tokens.ParseOpaque(tokens.CodePrefix, u.Query().Get("code"))
	if !ok || u.Query().Get("state") != "browser" {
		t.Fatalf("the consent redirect %s carries no code", loc)
	}
	if !exists(t, grant) {
		t.Fatalf("the grant %s was not recorded", grant)
	}

	// The grant is listed (the cache may take a moment), then revoked by a
	// click on its button.
	row := `#grant-` + grant
	run("open the page with the grant", testbrowser.NavigateUntil("https://ai.10x.in/ui/integrations", row))
	if got := text(row + ` td`); !strings.HasPrefix(got, hostileName) {
		t.Errorf("the grant's connector shows as %q", got)
	}
	if got := text(row + ` td:nth-child(2)`); !strings.HasPrefix(got, email) {
		t.Errorf("the grant's user shows as %q", got)
	}
	screenshot("integrations-with-grant")
	run("revoke", chromedp.Click(chromedp.CSS(row+` button`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)),
		chromedp.WaitNotPresent(chromedp.CSS(row)))
	if got := text(".notice"); !strings.Contains(got, grant) {
		t.Errorf("the notice says %q", got)
	}
	screenshot("integrations-revoked")
	if exists(t, grant) {
		t.Errorf("the grant %s still exists after the click", grant)
	}
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened: a client name ran as markup", n)
	}
}

// The consent form's redirect to a private-use callback must pass the
// page's form-action policy: Chromium refuses it under the host-source
// cursor://anysphere.cursor-mcp, so the page must name the scheme. Headless
// Chromium opens no app, so the test waits for the grant (recorded before the
// redirect is answered) and then for a policy violation that must not come.
func TestPrivateUseRedirectInChromium(t *testing.T) {
	testbrowser.ChromiumPath(t)
	ts := startRuntime(t)
	ctx := browser(t, ts)
	steps := &testbrowser.Steps{T: t, Ctx: ctx, Dir: artifacts(t), Timeout: 20 * time.Second}
	challenge := pkce()
	authorize := "https://ai.10x.in/oauth/authorize?" + url.Values{"client_id": {"acme-cursor"}, "redirect_uri": {cursorCallback},
		"response_type": {"code"}, "state": {"cursor"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"resource": {"https://acme.mcp.10x.in/mcp"}, "scope": {"mcp.connect skills.read"}}.Encode()
	steps.Run("sign in", chromedp.Navigate(authorize),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`)))
	if got := steps.Text("main p:nth-of-type(2) strong"); got != "the app that opens cursor: links (anysphere.cursor-mcp)" {
		t.Errorf("the consent page says the browser goes to %q", got)
	}
	steps.Screenshot("consent-cursor")
	// The click runs after Evaluate returns: the navigation it starts never
	// completes in a browser without the app.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.violations = [];
		document.addEventListener('securitypolicyviolation', e => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));
		setTimeout(() => document.querySelector('button[value="approve"]').click(), 0); 0`)); err != nil {
		t.Fatal(err)
	}
	waitfor.Eventually(t, 10*time.Second, "a grant for acme-cursor after the approval", func() error {
		if !approved(t, "acme-cursor") {
			return errors.New("none yet")
		}
		return nil
	})
	time.Sleep(time.Second)
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.violations`))
	if err != nil || len(violations) != 0 {
		t.Errorf("the redirect to %s broke the page's policy: %v %v", cursorCallback, violations, err)
	}
}

// approved reports whether a grant exists for the client.
func approved(t *testing.T, clientID string) bool {
	t.Helper()
	var conns mcpv1alpha1.ConnectionList
	if err := env.Client.List(context.Background(), &conns); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns.Items {
		if c.Spec.ClientID == clientID {
			return true
		}
	}
	return false
}

func exists(t *testing.T, grant string) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), types.NamespacedName{Name: grant}, &mcpv1alpha1.Connection{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// pkce returns a code challenge; no test here redeems the code.
func pkce() string {
	sum := sha256.Sum256([]byte("browser-test-verifier-" + strings.Repeat("v", 40)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

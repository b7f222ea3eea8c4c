package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/test/framework/connecttest"
	"github.com/10xdotin/mcp-handle-operator/test/framework/stack"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testbrowser"
)

// browser drives headless Chromium through Traefik: an authorization
// request for the shared URL sends it to sign-in, the consent page offers
// the dev user's two handles (the picker), approving beta redirects to the
// client's callback (served here) with a code, and the MCP & Tools page lists
// both handles and the new grant. Screenshots go to
// test/artifacts/e2e/browser/.
func (e *suite) browser(t *testing.T, chromium string) {
	dir := artifacts(t, "browser")
	cfg := e.s.Config
	ctx := context.Background()

	// The client's callback, a loopback redirect URI of a client registered
	// dynamically (RFC 7591) through the gateway.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	callback := fmt.Sprintf("http://%s/callback", l.Addr())
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "<!doctype html><title>callback</title><p id=done>callback received</p>")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	reg, _ := json.Marshal(map[string]any{"client_name": "e2e browser", "redirect_uris": []string{callback},
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"}, "token_endpoint_auth_method": "none"})
	resp, err := e.hc.Post(cfg.Issuer+"/oauth/register", "application/json", strings.NewReader(string(reg))) //nolint:noctx
	if err != nil {
		t.Fatal(err)
	}
	var client struct {
		ClientID string `json:"client_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&client)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil || client.ClientID == "" {
		t.Fatalf("registration: HTTP %d, %v, %+v", resp.StatusCode, err, client)
	}

	// Chromium trusts only the key of the certificate cert-manager issued
	// (the platform Secret's), and reaches every *.localhost name on
	// Traefik's loopback address.
	secret := &corev1.Secret{}
	if err := e.s.Env.Client.Get(ctx, types.NamespacedName{Namespace: stack.Namespace, Name: cfg.TLS.SecretName}, secret); err != nil {
		t.Fatal(err)
	}
	leaf := connecttest.ParsePEM(t, secret.Data[corev1.TLSCertKey])
	bctx := testbrowser.Start(t, chromium, "MAP localhost 127.0.0.1, MAP *.localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", spki(leaf))

	steps := &testbrowser.Steps{T: t, Ctx: bctx, Dir: dir, Timeout: 30 * time.Second}
	run, text, screenshot := steps.Run, steps.Text, steps.Screenshot

	verifier := "e2e-browser-verifier-" + strings.Repeat("v", 40)
	sum := sha256.Sum256([]byte(verifier))
	authorize := cfg.Issuer + "/oauth/authorize?" + url.Values{"client_id": {client.ClientID}, "redirect_uri": {callback},
		"response_type": {"code"}, "state": {"e2e-browser"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "resource": {cfg.GatewayURL()}, "scope": {"mcp.connect skills.read"}}.Encode()
	run("authorization request, to sign-in", chromedp.Navigate(authorize), chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); !strings.HasPrefix(loc, cfg.Issuer+"/ui/login?") {
		t.Errorf("without a session the authorization request went to %s", loc)
	}
	screenshot("sign-in")
	run("sign in, to consent",
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), stack.DevUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), e.s.DevPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`)))
	// The picker: the dev user is a member of acme and beta.
	for _, h := range []string{stack.SampleHandle, beta} {
		run("the picker offers "+h, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`input[name="handle"][value=%q]`, h))))
	}
	screenshot("consent-handle-picker")
	run("pick beta and approve",
		chromedp.Click(chromedp.CSS(`input[name="handle"][value="beta"]`)),
		chromedp.Click(chromedp.CSS(`button[value="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#done`)))
	loc, _ := chromedp.Run(bctx, chromedp.Location())
	u, _ := url.Parse(loc)
	grant, ok := tokens.ParseOpaque(tokens.CodePrefix, u.Query().Get("code"))
	if !ok || u.Query().Get("state") != "e2e-browser" || !strings.HasPrefix(loc, callback+"?") || u.Query().Get("iss") != cfg.Issuer {
		t.Fatalf("the consent redirect %s carries no code for %s", loc, callback)
	}
	screenshot("callback")

	// MCP & Tools: both handles, their URLs, and the grant on beta.
	row := `#grant-` + grant
	run("MCP & Tools lists the grant", testbrowser.NavigateUntil(cfg.Issuer+"/ui/integrations", row))
	for sel, want := range map[string]string{
		`#handle-acme [data-url="hosted"]`:        cfg.HostedURL(stack.SampleHandle),
		`#handle-beta [data-url="hosted"]`:        cfg.HostedURL(beta),
		`#handle-beta [data-url="gateway"]`:       cfg.GatewayURL(),
		`#handle-beta [data-url="compatibility"]`: cfg.CompatibilityURL(beta),
		`#handle-beta [data-role]`:                "Admin",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	if got := text(`#handle-beta ` + row + ` td`); !strings.HasPrefix(got, "e2e browser") {
		t.Errorf("the grant's row on beta shows %q", got)
	}
	screenshot("mcp-and-tools")
}

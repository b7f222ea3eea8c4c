package e2e_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/10xdotin/mcp-handle-operator/test/framework/dex"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
	"github.com/10xdotin/mcp-handle-operator/test/framework/stack"
)

const (
	dexUser     = "grace@acme.example"
	dexPassword = "grace's dex password"
	// dexGroup makes Dex's user a member of the sample handle acme.
	dexGroup = "acme-marketing"
	// dexCallback is the sample OAuthClient acme-chatgpt's callback.
	dexCallback = "https://chatgpt.com/connector/oauth/cb_0123456789abcdef"
)

// startDex runs Dex with one user in the sample handle's group and the
// runtime as its client, and returns the stack's OIDC option.
func startDex(t *testing.T, ctx context.Context, publicPort int) *stack.OIDC {
	t.Helper()
	bin, err := dex.Binary()
	if err != nil {
		t.Fatal(err)
	}
	issuer := fmt.Sprintf("https://localhost:%d", publicPort)
	secret := "e2e-dex-client-secret"
	d, err := dex.Start(ctx, bin, dex.Config{
		Users:   []dex.User{{Email: dexUser, Password: dexPassword, Username: "grace", UserID: "e2e-grace", Groups: []string{dexGroup}}},
		Clients: []dex.Client{{ID: "mcp-runtime", Secret: secret, RedirectURIs: []string{issuer + "/ui/oidc/callback"}, Name: "MCP runtime"}},
		Dir:     artifacts(t, "dex"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return &stack.OIDC{IssuerURL: d.Issuer, ClientID: "mcp-runtime", ClientSecret: secret, DisplayName: "Dex"}
}

var oidcStart = regexp.MustCompile(`href="(/ui/oidc/start[^"]*)"`)

// dexSignIn signs in through Dex, behind the Gateway, and approves a
// connector as a member of acme through the group Dex asserts.
func (e *suite) dexSignIn(t *testing.T) {
	ctx := context.Background()
	// A browser: the platform's hosts through the Gateway, Dex directly,
	// its own cookies, no redirects followed for it.
	gateway := e.s.Traefik.Addr
	d := &net.Dialer{Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if host, _, _ := net.SplitHostPort(addr); host == "localhost" || strings.HasSuffix(host, ".localhost") {
					addr = gateway
				}
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: e.s.Roots(), MinVersion: tls.VersionTLS12},
		}}
	get := func(rawURL string) (*http.Response, string) {
		t.Helper()
		resp, err := browser.Get(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	issuer := fmt.Sprintf("https://localhost:%d", e.port)
	verifier := strings.Repeat("e2e-dex-verifier-", 4)
	sum := sha256.Sum256([]byte(verifier))
	authURL := issuer + "/oauth/authorize?" + url.Values{"client_id": {"acme-chatgpt"}, "redirect_uri": {dexCallback},
		"response_type": {"code"}, "state": {"dex"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "scope": {"mcp.connect skills.read"}}.Encode()

	resp, body := get(authURL)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	_, page := get(issuer + resp.Header.Get("Location"))
	m := oidcStart.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "Sign in with Dex") {
		t.Fatalf("the login page offers no Dex sign-in:\n%s", page)
	}
	resp, body = get(issuer + html.UnescapeString(m[1]))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("oidc start: %d %s", resp.StatusCode, body)
	}
	back, err := dex.Login(ctx, browser, resp.Header.Get("Location"), dexUser, dexPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back, issuer+"/ui/oidc/callback?") {
		t.Fatalf("Dex sent the browser to %s", back)
	}
	resp, body = get(back)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback through the Gateway: %d %s", resp.StatusCode, body)
	}
	_, page = get(issuer + resp.Header.Get("Location"))
	if !strings.Contains(page, "as "+dexUser) || !strings.Contains(page, `value="approve"`) {
		t.Fatalf("consent after Dex (acme through the %s group):\n%s", dexGroup, page)
	}
	form := loadgen.FormFields(page)
	form.Set("decision", "approve")
	resp, err = browser.PostForm(issuer+"/ui/consent", form)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), dexCallback+"?") || loc.Query().Get("code") == "" {
		t.Fatalf("approval: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = browser.PostForm(issuer+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {"acme-chatgpt"}, "redirect_uri": {dexCallback}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(tok), `"access_token":"mcpv1_`) {
		t.Fatalf("token: %d %s", resp.StatusCode, tok)
	}
}

package security

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

// A redirect URI that differs from the registered one in any way gets the
// error page, never a redirect; PKCE missing or plain is sent back.
func TestRedirectURIAndPKCE(t *testing.T) {
	s := newStack(t)
	for name, uri := range map[string]string{
		"one byte":          callback[:len(callback)-1] + "X",
		"one byte less":     callback[:len(callback)-1],
		"case of the host":  strings.Replace(callback, "chatgpt.com", "ChatGPT.com", 1),
		"case of the path":  strings.ToUpper(callback),
		"trailing slash":    callback + "/",
		"query":             callback + "?x=1",
		"empty query":       callback + "?",
		"fragment":          callback + "#x",
		"default port":      strings.Replace(callback, "chatgpt.com", "chatgpt.com:443", 1),
		"escaped character": strings.Replace(callback, "cb_", "cb%5F", 1),
		"user information":  strings.Replace(callback, "https://", "https://chatgpt.com@", 1),
		"another host":      strings.Replace(callback, "chatgpt.com", "chatgpt.com.evil.example", 1),
		"missing":           "",
	} {
		t.Run(name, func(t *testing.T) {
			r := s.do(t, "GET", authorizeURL(url.Values{"redirect_uri": {uri}}), nil)
			if !isErrorPage(r, http.StatusBadRequest) || !strings.Contains(r.body, "is not registered for this client") {
				t.Errorf("%q: %d Location=%q; want the error page", uri, r.StatusCode, r.Header.Get("Location"))
			}
		})
	}
	for name, extra := range map[string]url.Values{
		"PKCE missing":             {"code_challenge": {""}, "code_challenge_method": {""}},
		"PKCE plain":               {"code_challenge_method": {"plain"}},
		"PKCE method only":         {"code_challenge": {""}},
		"PKCE challenge too short": {"code_challenge": {"abc"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := s.do(t, "GET", authorizeURL(extra), nil)
			loc, _ := url.Parse(r.Header.Get("Location"))
			if r.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), callback+"?") ||
				loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st" || loc.Query().Get("iss") != issuer {
				t.Errorf("%d %s; want a redirect with error=invalid_request, state and iss", r.StatusCode, r.Header.Get("Location"))
			}
		})
	}
}

// Every parameter that decides where a browser goes next names only the
// runtime's own pages or the client's registered redirect URI.
func TestOpenRedirects(t *testing.T) {
	s := newStack(t)
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example", "/ui/integrations/../../x",
		"/ui/integrations?x=1", "https://ai.10x.in/ui/integrations", "/UI/integrations", "/ui/integrations/", "javascript:alert(1)", ""} {
		t.Run("next="+next, func(t *testing.T) {
			if r := s.do(t, "GET", issuer+"/ui/login?"+url.Values{"next": {next}}.Encode(), nil); !isErrorPage(r, http.StatusBadRequest) {
				t.Errorf("login page: %d Location=%q", r.StatusCode, r.Header.Get("Location"))
			}
			r := s.do(t, "POST", issuer+"/ui/login", url.Values{"next": {next}, "email": {"alice@example.com"}, "password": {password}})
			if !isErrorPage(r, http.StatusBadRequest) || !strings.Contains(r.body, "no page to return to") {
				t.Errorf("sign-in: %d Location=%q", r.StatusCode, r.Header.Get("Location"))
			}
		})
	}
	// A req that is not a request this runtime sealed: forged, altered, or
	// another purpose's sealed value.
	page := s.consent(t, authorizeURL(nil))
	form := testruntime.FormFields(t, page)
	sealed := form.Get("req")
	for name, req := range map[string]string{"forged": "eyJ4IjoxfQ.AAAA", "altered": sealed[:len(sealed)-2] + "AA", "a CSRF token": form.Get("csrf"), "empty": ""} {
		t.Run("req "+name, func(t *testing.T) {
			for _, r := range []response{
				s.do(t, "GET", issuer+"/ui/login?"+url.Values{"req": {req}}.Encode(), nil),
				s.do(t, "GET", issuer+"/ui/consent?"+url.Values{"req": {req}}.Encode(), nil),
				s.do(t, "POST", issuer+"/ui/consent", url.Values{"req": {req}, "csrf": {form.Get("csrf")}, "decision": {"approve"}}),
				s.do(t, "POST", issuer+"/ui/consent", url.Values{"req": {req}, "csrf": {form.Get("csrf")}, "decision": {"deny"}}),
			} {
				if !isErrorPage(r, http.StatusBadRequest) {
					t.Errorf("%d Location=%q", r.StatusCode, r.Header.Get("Location"))
				}
			}
		})
	}
	// Without OpenID Connect configured the callback is a page; with it,
	// runtime/web TestOIDCCallbackRefusals covers forged states.
	if r := s.do(t, "GET", issuer+"/ui/oidc/callback?state=abcdefghij&code=x", nil); !isErrorPage(r, http.StatusNotFound) {
		t.Errorf("OIDC callback: %d Location=%q", r.StatusCode, r.Header.Get("Location"))
	}
	// Denial and approval go to the registered URI exactly.
	form.Set("decision", "deny")
	r := s.do(t, "POST", issuer+"/ui/consent", form)
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, callback+"?") {
		t.Errorf("deny: %d %s", r.StatusCode, loc)
	}
}

// A token is valid on every URL of its own handle — hosted, compatibility
// and the shared gateway (which serves the token's handle) — and refused on
// another handle's hosted and compatibility URLs.
func TestTokenOfAnotherHandle(t *testing.T) {
	s := newStack(t)
	access := s.acmeToken(t)["access_token"].(string)
	for _, u := range []string{acmeURL, issuer + "/mcp", issuer + "/mcp/acme/mcp"} {
		if r := s.rpc(t, u, access, "initialize"); r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", u, r.StatusCode, r.body)
		}
	}
	for _, u := range []string{"https://beta.mcp.10x.in/mcp", issuer + "/mcp/beta/mcp"} {
		r := s.rpc(t, u, access, "initialize")
		if r.StatusCode != http.StatusUnauthorized || errorCode(r.body) != "token_handle_mismatch" ||
			!strings.Contains(r.Header.Get("WWW-Authenticate"), `error="token_handle_mismatch"`) {
			t.Errorf("%s: %d %s", u, r.StatusCode, r.body)
		}
	}
}

// On the shared gateway the user picks the handle: one they are not a
// member of, or that does not exist, is refused and no grant is made.
func TestGatewayHandleChoice(t *testing.T) {
	s := newStack(t)
	page := s.consent(t, authorizeURL(url.Values{"client_id": {"sec-gateway"}, "redirect_uri": {gatewayCallback}, "resource": {issuer + "/mcp"}}))
	if !strings.Contains(page, `name="handle" value="acme"`) || strings.Contains(page, `value="beta"`) {
		t.Fatalf("the handle picker:\n%s", page)
	}
	before := connections(t, "sec-gateway")
	for handle, want := range map[string]string{
		"beta":  "alice@example.com is not a member of the handle beta",
		"ghost": "The handle ghost does not exist",
		"ACME":  "The handle ACME does not exist",
	} {
		form := testruntime.FormFields(t, page)
		form.Set("decision", "approve")
		form.Set("handle", handle)
		r := s.do(t, "POST", issuer+"/ui/consent", form)
		if !isErrorPage(r, http.StatusForbidden) || !strings.Contains(r.body, want) {
			t.Errorf("handle %s: %d %s", handle, r.StatusCode, r.body)
		}
	}
	if after := connections(t, "sec-gateway"); after != before {
		t.Errorf("refused approvals made grants: %d -> %d", before, after)
	}
}

// Scopes beyond the member's limit cannot be approved: consent leaves them
// out, a forged approval naming them is granted without them, and a refresh
// cannot widen a grant.
func TestScopesBeyondTheMembersLimit(t *testing.T) {
	s := newStack(t)
	page := s.consent(t, authorizeURL(url.Values{"scope": {"mcp.connect skills.read links.write"}}))
	if !strings.Contains(page, "left out") || !strings.Contains(page, "<code>links.write</code>") || strings.Contains(page, `value="links.write"`) {
		t.Fatalf("consent page beyond the limit does not leave links.write out:\n%s", page)
	}
	// A forged approval naming links.write anyway is granted without it.
	form := testruntime.FormFields(t, page)
	form.Set("decision", "approve")
	form["scope"] = []string{"mcp.connect", "skills.read", "links.write"}
	r := s.do(t, "POST", issuer+"/ui/consent", form)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("forged approval: %d %s", r.StatusCode, r.body)
	}
	if tok := s.exchange(t, "sec-acme", callback, loc.Query().Get("code")); tok["scope"] != "mcp.connect skills.read" {
		t.Errorf("forged approval granted %v", tok["scope"])
	}
	tok := s.acmeToken(t)
	r = s.do(t, "POST", issuer+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)},
		"client_id": {"sec-acme"}, "scope": {"mcp.connect links.read"}})
	if r.StatusCode != http.StatusBadRequest || errorCode(r.body) != "invalid_scope" {
		t.Errorf("a refresh widening the grant: %d %s", r.StatusCode, r.body)
	}
}

// An approval without the CSRF token of the signed-in session is refused and
// makes no grant — for a member who could approve, so the CSRF check and
// nothing else refuses it.
func TestConsentWithoutCSRF(t *testing.T) {
	s := newStack(t)
	page := s.consent(t, authorizeURL(nil))
	form := testruntime.FormFields(t, page)
	other := newStack(t)
	otherCSRF := testruntime.FormFields(t, other.consent(t, authorizeURL(nil))).Get("csrf")
	before := connections(t, "sec-acme")
	for name, csrf := range map[string]string{"none": "", "forged": "forged", "another session's": otherCSRF, "the sealed request": form.Get("req")} {
		f := url.Values{"req": {form.Get("req")}, "decision": {"approve"}}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		r := s.do(t, "POST", issuer+"/ui/consent", f)
		if !isErrorPage(r, http.StatusForbidden) || !strings.Contains(r.body, "was not sent from this site") {
			t.Errorf("%s CSRF token: %d %s", name, r.StatusCode, r.body)
		}
	}
	// The right token, but without the session cookie.
	bare := &stack{cfg: s.cfg, replicas: s.replicas}
	bare.jar = nil
	if r := bare.do(t, "POST", issuer+"/ui/consent", url.Values{"req": {form.Get("req")}, "csrf": {form.Get("csrf")}, "decision": {"approve"}}); !isErrorPage(r, http.StatusForbidden) {
		t.Errorf("without the session: %d", r.StatusCode)
	}
	if after := connections(t, "sec-acme"); after != before {
		t.Fatalf("refused approvals made grants: %d -> %d", before, after)
	}
	if code := s.approve(t, page); code == "" {
		t.Fatal("the genuine form does not approve")
	}
}

const hostileName = `Evil <script>alert(1)</script><img src=x onerror=alert(2)> "q" 'a'`

// Markup in client names, client ids and redirect URIs is escaped on the
// login, consent and error pages (the integrations page: runtime
// TestIntegrationsPage); scopes are only the catalogue's, and an unknown one
// is sent back URL-encoded, never shown.
func TestHostileMarkupIsEscaped(t *testing.T) {
	s := newStack(t)
	hostileRedirect := `https://a.example/cb?x="><script>alert(3)</script>`
	body, _ := json.Marshal(map[string]any{"client_name": hostileName, "redirect_uris": []string{hostileRedirect},
		"token_endpoint_auth_method": "none", "resource": acmeURL})
	r := s.register(t, body)
	var reg map[string]any
	if err := json.Unmarshal([]byte(r.body), &reg); err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("registration: %d %s", r.StatusCode, r.body)
	}
	id := reg["client_id"].(string)
	pages := map[string]response{}
	auth := authorizeURL(url.Values{"client_id": {id}, "redirect_uri": {hostileRedirect}})
	r = s.do(t, "GET", auth, nil)
	pages["login"] = s.do(t, "GET", issuer+r.Header.Get("Location"), nil)
	pages["consent"] = response{nil, s.consent(t, auth)}
	pages["error: client_id"] = s.do(t, "GET", authorizeURL(url.Values{"client_id": {`<script>alert(4)</script>`}}), nil)
	pages["error: redirect_uri"] = s.do(t, "GET", authorizeURL(url.Values{"redirect_uri": {`https://x/"><script>alert(5)</script>`}}), nil)
	for name, p := range pages {
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "<img") || strings.Contains(p.body, `"><script`) {
			t.Errorf("%s page shows markup unescaped:\n%s", name, p.body)
		}
		if !strings.Contains(p.body, "&lt;script&gt;") {
			t.Errorf("%s page lacks the escaped text:\n%s", name, p.body)
		}
	}
	r = s.do(t, "GET", authorizeURL(url.Values{"scope": {"mcp.connect <script>"}}), nil)
	if loc, _ := url.Parse(r.Header.Get("Location")); r.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_scope" || strings.Contains(loc.RawQuery, "<") {
		t.Errorf("an unknown scope: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

// Oversized and deeply nested JSON is refused with the endpoint's error and
// leaves the replicas serving.
func TestOversizedAndNestedJSON(t *testing.T) {
	s := newStack(t)
	access := s.acmeToken(t)["access_token"].(string)
	nested := func(n int) []byte { return []byte(strings.Repeat("[", n) + strings.Repeat("]", n)) }
	big, _ := json.Marshal(map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "client_name": strings.Repeat("x", 70<<10)})
	deepObject := []byte(`{"redirect_uris":["https://a.example/cb"],"x":` + strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000) + "}")
	for name, body := range map[string][]byte{"over 64 KiB": big, "nested arrays": nested(30000), "nested objects": deepObject} {
		r := s.register(t, body)
		if r.StatusCode != http.StatusBadRequest || errorCode(r.body) != "invalid_client_metadata" {
			t.Errorf("registration, %s: %d %.200s", name, r.StatusCode, r.body)
		}
	}
	r := s.do(t, "POST", issuer+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"sec-acme"}, "x": {strings.Repeat("x", 70<<10)}})
	if r.StatusCode != http.StatusBadRequest || errorCode(r.body) != "invalid_request" {
		t.Errorf("token endpoint over 64 KiB: %d %.200s", r.StatusCode, r.body)
	}
	huge := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":"` + strings.Repeat("x", 4<<20) + `"}}}`)
	if r := s.rpcBody(t, acmeURL, access, huge); r.StatusCode != http.StatusRequestEntityTooLarge || errorCode(r.body) != "request_too_large" {
		t.Errorf("MCP body over 4 MiB: %d %.200s", r.StatusCode, r.body)
	}
	for name, body := range map[string][]byte{
		"nested batch":     nested(1 << 20),
		"nested arguments": []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":` + string(nested(1<<20)) + `}}}`),
		"nested params":    []byte(`{"jsonrpc":"2.0","id":1,"method":"ping","params":` + strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000) + `}`),
	} {
		r := s.rpcBody(t, acmeURL, access, body)
		if r.StatusCode >= 500 || r.StatusCode == http.StatusOK && !strings.Contains(r.body, `"error"`) {
			t.Errorf("MCP %s: %d %.300s", name, r.StatusCode, r.body)
		}
	}
	for i := range s.replicas {
		req, _ := http.NewRequest("GET", issuer+"/.well-known/oauth-authorization-server", nil)
		if r := s.sendTo(t, i, req); r.StatusCode != http.StatusOK {
			t.Errorf("replica %d after the attack: %d", i, r.StatusCode)
		}
	}
}

// The authorization server answers only on the gateway host, never derives
// an issuer or URL from the request's Host or forwarding headers, and the MCP
// endpoint refuses browsers of other origins.
func TestHostSpoofingAndForeignOrigin(t *testing.T) {
	s := newStack(t)
	for _, host := range []string{"evil.example", "ai.10x.in.evil.example", "acme.mcp.10x.in", "ai.10x.in:444", "evil.example:443", "10x.in"} {
		for _, path := range []string{"/.well-known/oauth-authorization-server", "/oauth/authorize", "/ui/login?next=/ui/integrations", "/ui/integrations", "/.well-known/jwks.json"} {
			req, _ := http.NewRequest("GET", issuer+path, nil)
			req.Host = host
			if r := s.send(t, req); r.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s on %s: %d", path, host, r.StatusCode)
			}
		}
		req, _ := http.NewRequest("POST", issuer+"/oauth/token", strings.NewReader("grant_type=refresh_token"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Host = host
		if r := s.send(t, req); r.StatusCode != http.StatusNotFound {
			t.Errorf("POST /oauth/token on %s: %d", host, r.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", issuer+"/.well-known/oauth-authorization-server", nil)
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("Forwarded", "host=evil.example;proto=http")
	req.Header.Set("X-Forwarded-Proto", "http")
	if r := s.send(t, req); r.StatusCode != http.StatusOK || strings.Contains(r.body, "evil") || !strings.Contains(r.body, `"issuer":"https://ai.10x.in"`) {
		t.Errorf("metadata with forwarding headers: %d %s", r.StatusCode, r.body)
	}
	req, _ = http.NewRequest("GET", acmeURL, nil)
	req.Host = "acme.mcp.10x.in.evil.example"
	if r := s.send(t, req); r.StatusCode != http.StatusNotFound {
		t.Errorf("MCP on a spoofed host: %d", r.StatusCode)
	}
	access := s.acmeToken(t)["access_token"].(string)
	for _, origin := range []string{"https://evil.example", "null", "http://acme.mcp.10x.in", "https://acme.mcp.10x.in.evil.example",
		"https://beta.mcp.10x.in", "https://acme.mcp.10x.in:8443", "https://ai.10x.in/x", "https://evil.example/ai.10x.in"} {
		r := s.rpc(t, acmeURL, access, "initialize", "Origin", origin)
		if r.StatusCode != http.StatusForbidden || errorCode(r.body) != "forbidden_origin" {
			t.Errorf("Origin %s: %d %s", origin, r.StatusCode, r.body)
		}
	}
	for _, origin := range []string{"https://acme.mcp.10x.in", "https://ai.10x.in"} {
		if r := s.rpc(t, acmeURL, access, "initialize", "Origin", origin); r.StatusCode != http.StatusOK {
			t.Errorf("own Origin %s: %d %s", origin, r.StatusCode, r.body)
		}
	}
}

// Dynamic registration is limited to 10 a minute (burst 10) per source
// address on each replica; forwarding headers do not change the source (no
// trusted proxy is configured). Retry-After says when the next token comes:
// within 6 s at 10 a minute.
func TestRegistrationFlood(t *testing.T) {
	s := newStack(t)
	body := []byte(`{"redirect_uris":["https://flood.example/cb"],"token_endpoint_auth_method":"none"}`)
	post := func(replica int, forwarded string) response {
		req, _ := http.NewRequest("POST", issuer+"/oauth/register", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if forwarded != "" {
			req.Header.Set("X-Forwarded-For", forwarded)
			req.Header.Set("X-Real-Ip", forwarded)
		}
		return s.sendTo(t, replica, req)
	}
	for i := range 10 {
		if r := post(0, ""); r.StatusCode != http.StatusCreated {
			t.Fatalf("registration %d: %d %s", i+1, r.StatusCode, r.body)
		}
	}
	for _, fwd := range []string{"", "203.0.113.7", "198.51.100.1"} {
		r := post(0, fwd)
		retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.StatusCode != http.StatusTooManyRequests || errorCode(r.body) != "slow_down" || err != nil || retry < 1 || retry > 6 {
			t.Errorf("registration 11 (X-Forwarded-For %q): %d Retry-After %q %s", fwd, r.StatusCode, r.Header.Get("Retry-After"), r.body)
		}
	}
	// The limit is per replica: the other one has its own budget.
	if r := post(1, ""); r.StatusCode != http.StatusCreated {
		t.Errorf("the other replica: %d %s", r.StatusCode, r.body)
	}
}

// connections counts the grants of a client.
func connections(t *testing.T, clientID string) int {
	t.Helper()
	var list mcpv1alpha1.ConnectionList
	if err := env.Client.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range list.Items {
		if c.Spec.ClientID == clientID {
			n++
		}
	}
	return n
}

var _ = fmt.Sprintf
var _ ctrlclient.Object

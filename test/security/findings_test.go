package security

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

// The findings of issue 17, tried as a hostile client would.

// A redirect URI with user information names another host than the one a
// person reads (https://chatgpt.com@evil.example/cb goes to evil.example,
// RFC 3986 §7.6): dynamic registration and the OAuthClient CRD refuse it,
// and the consent page names the host the browser will go to.
func TestRedirectURIWithUserinfo(t *testing.T) {
	s := newStack(t)
	for _, u := range []string{"https://chatgpt.com@evil.example/cb", "https://chatgpt.com:x@evil.example/cb", "http://localhost@evil.example/cb"} {
		body, _ := json.Marshal(map[string]any{"redirect_uris": []string{u}, "token_endpoint_auth_method": "none", "resource": acmeURL})
		r := s.register(t, body)
		if r.StatusCode != http.StatusBadRequest || errorCode(r.body) != "invalid_redirect_uri" || !strings.Contains(r.body, "user information") {
			t.Errorf("registration with %s: %d %s", u, r.StatusCode, r.body)
		}
		oc := &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "sec-userinfo"}, Spec: mcpv1alpha1.OAuthClientSpec{
			ClientName: "Userinfo", Handle: "acme", RedirectURIs: []mcpv1alpha1.RedirectURI{mcpv1alpha1.RedirectURI(u)}}}
		if err := env.Client.Create(context.Background(), oc); err == nil || !strings.Contains(err.Error(), "user information") {
			_ = env.Client.Delete(context.Background(), oc)
			t.Errorf("an OAuthClient with %s: %v", u, err)
		}
	}
	// The consent page says where the browser goes, as a host.
	page := s.consent(t, authorizeURL(nil))
	if !strings.Contains(page, "your browser goes to <strong>chatgpt.com</strong>") {
		t.Errorf("the consent page does not name the redirect's host:\n%s", page)
	}
}

// MCP session ids travel in headers and logs: they verify on every replica
// but show nothing of the user, handle or grant.
func TestSessionIDsAreUnreadable(t *testing.T) {
	s := newStack(t)
	tok := s.acmeToken(t)
	r := s.rpc(t, acmeURL, tok["access_token"].(string), "initialize")
	id := r.Header.Get("Mcp-Session-Id")
	if r.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d %s", r.StatusCode, r.body)
	}
	for _, part := range strings.FieldsFunc(id, func(c rune) bool { return c == '.' }) {
		raw, _ := base64.RawURLEncoding.DecodeString(part)
		for _, secret := range []string{"alice", "example.com", "acme", "static#"} {
			if strings.Contains(string(raw), secret) || strings.Contains(part, secret) {
				t.Errorf("the session id %q shows %q", id, secret)
			}
		}
	}
	// Still self-verifying: the other replica serves the session.
	for i := range 2 {
		if r := s.rpc(t, acmeURL, tok["access_token"].(string), "tools/list", "Mcp-Session-Id", id); r.StatusCode != http.StatusOK {
			t.Errorf("request %d with the session (the replicas alternate): %d %s", i+1, r.StatusCode, r.body)
		}
	}
}

// A consent form submitted twice (a double click, a reload) makes one
// grant; the code of the last submission is the one that works, and once it
// is redeemed the form approves nothing more.
func TestConsentSubmittedTwice(t *testing.T) {
	s := newStack(t)
	page := s.consent(t, authorizeURL(nil))
	before := connections(t, "sec-acme")
	first := s.approve(t, page)
	second := s.approve(t, page)
	if after := connections(t, "sec-acme"); after != before+1 {
		t.Fatalf("two submissions of one consent made %d grants", after-before)
	}
	if first == second {
		t.Error("the second submission repeated the first code")
	}
	tok := s.exchange(t, "sec-acme", callback, second)
	if tok["access_token"] == nil {
		t.Fatalf("the last code: %v", tok)
	}
	r := s.do(t, "POST", issuer+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {first}, "client_id": {"sec-acme"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	if r.StatusCode != http.StatusBadRequest || errorCode(r.body) != "invalid_grant" {
		t.Errorf("the replaced first code: %d %s", r.StatusCode, r.body)
	}
	form := testruntime.FormFields(t, page)
	form.Set("decision", "approve")
	r = s.do(t, "POST", issuer+"/ui/consent", form)
	if !isErrorPage(r, http.StatusBadRequest) || !strings.Contains(r.body, "already approved") {
		t.Errorf("a third submission after the code was redeemed: %d %s %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	if after := connections(t, "sec-acme"); after != before+1 {
		t.Errorf("grants after the third submission: %d more", after-before)
	}
}

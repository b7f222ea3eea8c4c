package runtime_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

// On the shared gateway the user picks the handle; the grant is bound to
// the one picked, and an approval naming none is a bad request.
func TestGatewayConsentNeedsAHandle(t *testing.T) {
	s := newStack(t)
	const cb = "https://chatgpt.com/connector/oauth/cb_gateway"
	c := &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "gateway-chatgpt"}, Spec: mcpv1alpha1.OAuthClientSpec{
		Gateway: true, ClientName: "ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{cb}}}
	if err := env.Client.Create(context.Background(), c); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	_, challenge := pkce()
	authURL := authorizeURL(challenge, url.Values{"client_id": {"gateway-chatgpt"}, "redirect_uri": {cb}, "resource": {"https://ai.10x.in/mcp"}})
	page := s.signIn(t, authURL, "alice@example.com")
	if !strings.Contains(page, `name="handle" value="acme"`) {
		t.Fatalf("the handle picker does not offer acme:\n%s", page)
	}
	form := testruntime.FormFields(t, page)
	form.Set("decision", "approve")
	resp, body := s.do(t, "POST", "https://ai.10x.in/ui/consent", form)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "choose the handle") {
		t.Errorf("approval without a handle: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
	}
	form.Set("handle", "acme")
	resp, _ = s.do(t, "POST", "https://ai.10x.in/ui/consent", form)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, cb+"?code=") {
		t.Errorf("approval for acme: %d %s", resp.StatusCode, loc)
	}
}

// Consent grants what fits instead of refusing: a request without scope
// asks for the handle's connector scopes, scopes the member may not approve
// are left out (and named), the user can clear a box to approve less, and
// the token response says what was granted.
func TestConsentNarrowsToWhatTheUserMayApprove(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	const cb = "https://chatgpt.com/connector/oauth/cb_narrow"
	objs := []ctrlclient.Object{
		&mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: "narrow-links"}, Spec: mcpv1alpha1.ToolsetSpec{URL: "http://links.invalid/mcp",
			Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "narrow"}, Spec: mcpv1alpha1.HandleSpec{
			Toolsets: []mcpv1alpha1.ToolsetReference{{Name: "narrow-links"}},
			Members:  []mcpv1alpha1.HandleMember{{User: "alice@example.com", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.read"}}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "narrow-chatgpt"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "narrow", ClientName: "ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{cb}}},
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	_, prm := s.do(t, "GET", "https://narrow.mcp.10x.in/.well-known/oauth-protected-resource/mcp", nil)
	if !strings.Contains(prm, `"scopes_supported":["mcp.connect","skills.read","links.read","links.write"]`) {
		t.Errorf("the handle's metadata does not offer its connector scopes: %s", prm)
	}
	approve := func(t *testing.T, page string, keep ...string) url.Values {
		t.Helper()
		form := testruntime.FormFields(t, page)
		form.Set("decision", "approve")
		if keep != nil {
			form["scope"] = keep
		}
		verifier, _ := pkce()
		resp, body := s.do(t, "POST", "https://ai.10x.in/ui/consent", form)
		code := ""
		if loc, err := url.Parse(resp.Header.Get("Location")); err == nil {
			code = loc.Query().Get("code")
		}
		if resp.StatusCode != http.StatusSeeOther || code == "" {
			t.Fatalf("approval: %d %s", resp.StatusCode, body)
		}
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"narrow-chatgpt"}, "redirect_uri": {cb}, "code_verifier": {verifier}}
	}
	for _, tc := range []struct {
		name, scope string
		keep        []string
		offered     []string
		leftOut     string
		granted     string
	}{
		{name: "no scope: the connector scopes, links.write left out", offered: []string{"skills.read", "links.read"}, leftOut: "links.write",
			granted: "mcp.connect skills.read links.read"},
		{name: "the user approves less", keep: []string{"skills.read"}, offered: []string{"skills.read", "links.read"}, leftOut: "links.write",
			granted: "mcp.connect skills.read"},
		{name: "a scope no toolset needs is left out", scope: "mcp.connect pages.read links.read", offered: []string{"links.read"}, leftOut: "pages.read",
			granted: "mcp.connect links.read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifier, challenge := pkce()
			q := url.Values{"client_id": {"narrow-chatgpt"}, "redirect_uri": {cb}, "resource": {"https://narrow.mcp.10x.in/mcp"}, "scope": {tc.scope}}
			resp, page := s.do(t, "GET", authorizeURL(challenge, q), nil)
			if resp.StatusCode == http.StatusFound {
				page = s.signIn(t, authorizeURL(challenge, q), "alice@example.com")
			}
			for _, sc := range tc.offered {
				if !strings.Contains(page, `name="scope" value="`+sc+`" checked`) {
					t.Errorf("the consent page has no checked box for %s:\n%s", sc, page)
				}
			}
			if !strings.Contains(page, "left out") || !strings.Contains(page, "<code>"+tc.leftOut+"</code>") || strings.Contains(page, `value="`+tc.leftOut+`"`) {
				t.Errorf("the consent page does not leave out %s:\n%s", tc.leftOut, page)
			}
			exchange := approve(t, page, tc.keep...)
			exchange.Set("code_verifier", verifier)
			status, tok := s.token(t, exchange)
			if status != http.StatusOK || tok["scope"] != tc.granted {
				t.Errorf("token: %d %v, want scope %q", status, tok, tc.granted)
			}
		})
	}
}

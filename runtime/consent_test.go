package runtime_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

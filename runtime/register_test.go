package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// doJSON sends a JSON request to the next replica.
func (s *stack) doJSON(t *testing.T, method, rawURL, bearer string, body any) (int, map[string]any) {
	t.Helper()
	var buf io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		buf = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, rawURL, buf)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp := s.send(t, req)
	var out map[string]any
	_ = json.Unmarshal([]byte(resp.body), &out)
	return resp.StatusCode, out
}

func TestDynamicRegistrationBindsAtFirstAuthorization(t *testing.T) {
	s := newStack(t)
	verifier, challenge := pkce()
	const cb = "https://chatgpt.com/connector/oauth/cb_dcr"
	status, reg := s.doJSON(t, "POST", "https://ai.10x.in/oauth/register", "", map[string]any{
		"redirect_uris": []string{cb}, "client_name": "ChatGPT", "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"some_future_field": true,
	})
	if status != http.StatusCreated || reg["client_id"] == nil || reg["registration_access_token"] == nil || reg["client_secret"] != nil {
		t.Fatalf("registration: %d %v", status, reg)
	}
	clientID := reg["client_id"].(string)
	c := &mcpv1alpha1.OAuthClient{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: clientID}, c); err != nil {
		t.Fatal(err)
	}
	if c.Spec.Registration != mcpv1alpha1.RegistrationDynamic || c.Spec.Handle != "" || c.Spec.Gateway {
		t.Fatalf("registered client spec %+v", c.Spec)
	}

	q := url.Values{"client_id": {clientID}, "redirect_uri": {cb}}
	loc := s.signInAndApprove(t, authorizeURL(challenge, q))
	status, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {clientID},
		"redirect_uri": {cb}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: clientID}, c); err != nil {
		t.Fatal(err)
	}
	if c.Spec.Handle != "acme" {
		t.Errorf("the first authorization did not bind the client to acme: %+v", c.Spec)
	}
	// Bound now: another handle's resource is refused.
	resp, _ := s.do(t, "GET", authorizeURL(challenge, url.Values{"client_id": {clientID}, "redirect_uri": {cb}, "resource": {"https://ai.10x.in/mcp"}}), nil)
	if l, _ := url.Parse(resp.Header.Get("Location")); l == nil || l.Query().Get("error") != "invalid_target" {
		t.Errorf("a bound client on another resource: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// RFC 7592: repair the redirect URIs with the registration access token.
	regURI := reg["registration_client_uri"].(string)
	token := reg["registration_access_token"].(string)
	if status, _ := s.doJSON(t, "GET", regURI, "mcpreg1_wrong.token", nil); status != http.StatusUnauthorized {
		t.Errorf("read with a wrong registration token: %d", status)
	}
	status, updated := s.doJSON(t, "PUT", regURI, token, map[string]any{"redirect_uris": []string{cb, cb + "_new"}, "client_name": "ChatGPT", "token_endpoint_auth_method": "none"})
	if status != http.StatusOK || len(updated["redirect_uris"].([]any)) != 2 || updated["resource"] != "https://acme.mcp.10x.in/mcp" {
		t.Fatalf("repair: %d %v", status, updated)
	}
}

func TestDynamicRegistrationRefusals(t *testing.T) {
	s := newStack(t)
	for name, tc := range map[string]struct {
		body any
		want string
	}{
		"no redirect URIs":      {map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		"empty redirect URIs":   {map[string]any{"redirect_uris": []string{}}, "invalid_redirect_uri"},
		"http on a public host": {map[string]any{"redirect_uris": []string{"http://chatgpt.com/cb"}}, "invalid_redirect_uri"},
		"fragment":              {map[string]any{"redirect_uris": []string{"https://chatgpt.com/cb#x"}}, "invalid_redirect_uri"},
		"relative":              {map[string]any{"redirect_uris": []string{"/cb"}}, "invalid_redirect_uri"},
		"javascript scheme":     {map[string]any{"redirect_uris": []string{"javascript://x/%0aalert(1)"}, "token_endpoint_auth_method": "none"}, "invalid_redirect_uri"},
		// Absent, the method is client_secret_basic (RFC 7591 section 2).
		"private-use, confidential": {map[string]any{"redirect_uris": []string{"cursor://anysphere.cursor-mcp/oauth/callback"}}, "invalid_redirect_uri"},
		"implicit grant":            {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"implicit"}}, "invalid_client_metadata"},
		"unknown auth method":       {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
		"unknown scope":             {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "scope": "links.admin"}, "invalid_client_metadata"},
		"foreign resource":          {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "resource": "https://api.10x.in/mcp"}, "invalid_client_metadata"},
		"not an object":             {[]string{"x"}, "invalid_client_metadata"},
		"name longer than 128":      {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "client_name": strings.Repeat("x", 129)}, "invalid_client_metadata"},
	} {
		t.Run(name, func(t *testing.T) {
			status, out := s.doJSON(t, "POST", "https://ai.10x.in/oauth/register", "", tc.body)
			if status != http.StatusBadRequest || out["error"] != tc.want {
				t.Errorf("%d %v, want 400 %s", status, out, tc.want)
			}
		})
	}

	// A confidential client gets a secret it can authenticate with.
	status, reg := s.doJSON(t, "POST", "https://ai.10x.in/oauth/register", "", map[string]any{
		"redirect_uris": []string{"https://a.example/cb"}, "resource": "https://acme.mcp.10x.in/mcp"})
	if status != http.StatusCreated || reg["client_secret"] == nil || reg["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Fatalf("confidential registration: %d %v", status, reg)
	}
	resp, _ := s.do(t, "POST", "https://ai.10x.in/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"mcpr1_x." + strings.Repeat("A", 43)}},
		reg["client_id"].(string), "wrong-secret")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("wrong client secret: %d", resp.StatusCode)
	}
	resp, body := s.do(t, "POST", "https://ai.10x.in/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"mcpr1_x." + strings.Repeat("A", 43)}},
		reg["client_id"].(string), reg["client_secret"].(string))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Errorf("right client secret, unknown grant: %d %s (want invalid_grant, i.e. the client authenticated)", resp.StatusCode, body)
	}
}

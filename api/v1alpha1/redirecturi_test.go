package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

func TestRedirectURIValidate(t *testing.T) {
	for uri, want := range map[string]string{
		"https://chatgpt.com/connector/oauth/cb_1":       "",
		"http://127.0.0.1:33418/":                        "",
		"http://[::1]/cb":                                "",
		"cursor://anysphere.cursor-mcp/oauth/callback":   "",
		"vscode://vscode.github-authentication/callback": "",
		"com.example.app:/oauth2redirect":                "",
		"com.example.app://cb?app=1":                     "",
		"http://chatgpt.com/cb":                          "https is required",
		"HTTP://chatgpt.com/cb":                          "https is required",
		"chatgpt.com/cb":                                 "not an absolute URL",
		"https:///cb":                                    "not an absolute URL",
		"javascript://x/%0aalert(1)":                     "not a private-use scheme",
		"JavaScript://x/%0aalert(1)":                     "not a private-use scheme",
		"data:/text/html,x":                              "not a private-use scheme",
		"file:///etc/passwd":                             "not a private-use scheme",
		"wss://evil.example/cb":                          "not a private-use scheme",
		"mailto:/a@example.com":                          "not a private-use scheme",
		"Cursor://anysphere.cursor-mcp/oauth/callback":   "must be lowercase",
		"com.example.app:callback":                       "followed by :/",
		"cursor://evil@anysphere.cursor-mcp/cb":          "user information",
		"cursor://anysphere.cursor-mcp/cb#x":             "fragment",
	} {
		err := v1alpha1.RedirectURI(uri).Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", uri, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an error with %q", uri, err, want)
		}
	}
}

func TestPublicRedirects(t *testing.T) {
	spec := v1alpha1.OAuthClientSpec{RedirectURIs: []v1alpha1.RedirectURI{"https://www.cursor.com/agents/mcp/oauth/callback", "cursor://anysphere.cursor-mcp/oauth/callback"}}
	for method, ok := range map[v1alpha1.TokenEndpointAuthMethod]bool{
		"": true, v1alpha1.TokenEndpointAuthNone: true,
		v1alpha1.TokenEndpointAuthClientSecretBasic: false, v1alpha1.TokenEndpointAuthClientSecretPost: false,
	} {
		spec.TokenEndpointAuthMethod = method
		if err := spec.PublicRedirects(); (err == nil) != ok {
			t.Errorf("%q with a cursor:// redirect: %v", method, err)
		}
	}
	spec.RedirectURIs = spec.RedirectURIs[:1]
	if err := spec.PublicRedirects(); err != nil {
		t.Errorf("a confidential client with an https redirect: %v", err)
	}
}

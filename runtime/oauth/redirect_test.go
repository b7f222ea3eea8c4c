package oauth

import (
	"testing"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

func TestRedirectURIRegistered(t *testing.T) {
	// What VS Code registers (microsoft/vscode#278512).
	vscode := []mcpv1alpha1.RedirectURI{"https://vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"}
	claudeCode := []mcpv1alpha1.RedirectURI{"http://localhost:53682/callback"}
	v6 := []mcpv1alpha1.RedirectURI{"http://[::1]:8080/cb?x=1"}
	for _, tc := range []struct {
		registered []mcpv1alpha1.RedirectURI
		uri        string
		want       bool
	}{
		{vscode, "https://vscode.dev/redirect", true},
		{vscode, "http://127.0.0.1:33418/", true},
		{vscode, "http://127.0.0.1:59656/", true},
		{vscode, "http://127.0.0.1/", true},
		{vscode, "http://127.0.0.1:59656/other", false},
		{vscode, "http://localhost:59656/", false},
		{vscode, "https://127.0.0.1:59656/", false},
		{vscode, "https://vscode.dev:8443/redirect", false},
		{claudeCode, "http://localhost:40111/callback", true},
		{claudeCode, "http://localhost:40111/callback/", false},
		{claudeCode, "http://localhost:40111/callback?a=b", false},
		{claudeCode, "http://localhost.evil.example:40111/callback", false},
		{claudeCode, "http://user@localhost:40111/callback", false},
		{v6, "http://[::1]:9/cb?x=1", true},
		{v6, "http://[::1]/cb?x=1", true},
		{v6, "http://[::1]:9/cb?x=2", false},
		{[]mcpv1alpha1.RedirectURI{"https://chatgpt.com/connector/oauth/cb1"}, "https://chatgpt.com:444/connector/oauth/cb1", false},
	} {
		if got := RedirectURIRegistered(tc.registered, tc.uri); got != tc.want {
			t.Errorf("%v with %s: %v, want %v", tc.registered, tc.uri, got, tc.want)
		}
	}
}

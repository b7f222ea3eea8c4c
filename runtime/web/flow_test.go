package web

import "testing"

// The form-action source must let the consent form's redirect reach the
// client: Chromium refuses a redirect to cursor://anysphere.cursor-mcp/...
// under the host-source cursor://anysphere.cursor-mcp and allows it under
// the scheme-source cursor: (measured with Chromium 156).
func TestRedirectOriginAndHost(t *testing.T) {
	for raw, want := range map[string][2]string{
		"https://chatgpt.com/connector/oauth/cb_1":     {"https://chatgpt.com", "chatgpt.com"},
		"http://127.0.0.1:33418/":                      {"http://127.0.0.1:33418", "127.0.0.1:33418"},
		"cursor://anysphere.cursor-mcp/oauth/callback": {"cursor:", "the app that opens cursor: links (anysphere.cursor-mcp)"},
		"com.example.app:/oauth2redirect":              {"com.example.app:", "the app that opens com.example.app: links"},
	} {
		if got := origin(raw); got != want[0] {
			t.Errorf("origin(%s) = %q, want %q", raw, got, want[0])
		}
		if got := redirectHost(raw); got != want[1] {
			t.Errorf("redirectHost(%s) = %q, want %q", raw, got, want[1])
		}
	}
}

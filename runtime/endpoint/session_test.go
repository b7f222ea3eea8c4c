package endpoint

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// A DELETE of a session is refused with 405: sealed sessions cannot be
// terminated, and the session keeps working (the conformance suite's
// server-session-lifecycle found a 200 followed by a live session).
func TestSessionDeleteIsRefused(t *testing.T) {
	f := newFixture(t)
	tok := f.fullToken("acme", "conn-a")
	resp := f.post("https://acme.mcp.10x.in/mcp", tok, initialize)
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("initialize: %d %q %s", resp.StatusCode, id, readBody(t, resp))
	}
	req := httptest.NewRequest(http.MethodDelete, "https://acme.mcp.10x.in/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Mcp-Session-Id", id)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE of a session: %d %s, want 405", rec.Code, rec.Body.String())
	}
	ping := `{"jsonrpc":"2.0","id":3,"method":"ping"}`
	if resp := f.post("https://acme.mcp.10x.in/mcp", tok, ping, "Mcp-Session-Id", id, "Mcp-Protocol-Version", "2025-11-25"); resp.StatusCode != 200 {
		t.Errorf("ping after the refused DELETE: %d %s", resp.StatusCode, readBody(t, resp))
	}
}

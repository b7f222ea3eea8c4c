package endpoint

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestOnlyServedVersions: versions mcp-go knows but the endpoint does not
// serve are refused in the header, and a batch (which none of the served
// versions allows) is a JSON-RPC Invalid Request, while malformed JSON stays
// a parse error.
func TestOnlyServedVersions(t *testing.T) {
	f := newFixture(t)
	tok := f.fullToken("acme", "conn-a")
	const url = "https://acme.mcp.10x.in/mcp"
	ping := `{"jsonrpc":"2.0","id":3,"method":"ping"}`
	for _, v := range []string{"2025-03-26", "2024-11-05"} {
		resp := f.post(url, tok, ping, "Mcp-Protocol-Version", v)
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, v) {
			t.Errorf("MCP-Protocol-Version %s: %d %s", v, resp.StatusCode, body)
		}
	}
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"batch", `[` + ping + `,` + createLink + `]`, mcp.INVALID_REQUEST},
		{"empty batch", ` []`, mcp.INVALID_REQUEST},
		{"malformed batch", `[` + ping, mcp.PARSE_ERROR},
	} {
		resp := f.post(url, tok, tc.body, "Mcp-Protocol-Version", "2025-11-25")
		raw := readBody(t, resp)
		var rpc struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(raw), &rpc); err != nil || resp.StatusCode != http.StatusBadRequest ||
			rpc.JSONRPC != "2.0" || string(rpc.ID) != "null" || rpc.Error.Code != tc.code {
			t.Errorf("%s: %d %s, want 400 and JSON-RPC error %d", tc.name, resp.StatusCode, raw, tc.code)
		}
	}
}

package endpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// maxBody bounds an MCP request body; tool arguments larger than this are
// refused before anything parses them.
const maxBody = 4 << 20

// message is the part of a JSON-RPC message the scope check reads.
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}

// readMessages reads the body and returns it with the messages it holds (one
// object, or a batch in protocol versions that allow them). A body that is
// not JSON is passed on as it is: mcp-go answers the parse error. A message
// with a value of the wrong type somewhere (say "params":{"name":5} on a
// tools/list, which mcp-go accepts) is kept as far as it decoded, so its
// method is still checked.
func readMessages(w http.ResponseWriter, r *http.Request) ([]byte, []message, *problem) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, nil, &problem{status: http.StatusRequestEntityTooLarge, code: "request_too_large", description: "the request body is larger than 4 MiB"}
	}
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	var msgs []message
	if len(trimmed) > 0 && trimmed[0] == '[' {
		_ = json.Unmarshal(trimmed, &msgs)
	} else {
		var m message
		var typeErr *json.UnmarshalTypeError
		if err := json.Unmarshal(trimmed, &m); err == nil || errors.As(err, &typeErr) {
			msgs = []message{m}
		}
	}
	return raw, msgs, nil
}

// ToolScopes says which scopes a handle's tool needs.
type ToolScopes interface {
	// ToolScopes returns the scopes needed to call the tool, and false
	// when the handle has no such tool (mcp-go then answers the call).
	ToolScopes(h *mcpv1alpha1.Handle, tool string) ([]mcpv1alpha1.Scope, bool)
}

// needed returns the scopes a message needs: mcp.connect for everything,
// skills.read to discover tools, the tool's own scopes to call it.
func needed(tools ToolScopes, h *mcpv1alpha1.Handle, m message) tokens.ScopeSet {
	want, _ := tokens.NewScopeSet(mcpv1alpha1.ScopeMCPConnect)
	switch m.Method {
	case "tools/list":
		s, _ := tokens.NewScopeSet(mcpv1alpha1.ScopeSkillsRead)
		want |= s
	case "tools/call":
		if scopes, ok := tools.ToolScopes(h, m.Params.Name); ok {
			s, _ := tokens.NewScopeSet(scopes...)
			want |= s
		}
	}
	return want
}

package endpoint

import (
	"context"
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

// message is the part of a JSON-RPC message the scope check and the
// request's span read.
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method"`
	Params struct {
		Name string `json:"name"`
		// Meta may name the trace the request belongs to (tracing.ExtractMeta).
		Meta map[string]any `json:"_meta"`
	} `json:"params"`
}

// readMessages reads the body and returns it with the message it holds (a
// batch is refused before this matters: isBatch). A body that is not JSON is
// passed on as it is: mcp-go answers the parse error. A message with a value
// of the wrong type somewhere (say "params":{"name":5} on a tools/list, which
// mcp-go accepts) is kept as far as it decoded, so its method is still
// checked.
func readMessages(w http.ResponseWriter, r *http.Request) ([]byte, []message, *problem) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, nil, &problem{status: http.StatusRequestEntityTooLarge, code: "request_too_large", description: "the request body is larger than 4 MiB"}
	}
	var msgs []message
	var m message
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(raw, &m); err == nil || errors.As(err, &typeErr) {
		msgs = []message{m}
	}
	return raw, msgs, nil
}

// Tools says which scopes a handle's tool needs.
type Tools interface {
	// ToolScopes returns the scopes needed to call the tool, and false
	// when the handle has no such tool (mcp-go then answers the call).
	ToolScopes(h *mcpv1alpha1.Handle, tool string) ([]mcpv1alpha1.Scope, bool)
	// Await waits (bounded) while the tools of the handle's toolsets are
	// still being fetched: of the one the tool belongs to, or of all of
	// them when tool is "". A replica that has just started then answers
	// with the tools, not "tool not found".
	Await(ctx context.Context, h *mcpv1alpha1.Handle, tool string)
}

// await waits for the tools the messages need: all of the handle's for a
// tools/list, the called tool's toolset for a tools/call.
func await(ctx context.Context, tools Tools, h *mcpv1alpha1.Handle, msgs []message) {
	for _, m := range msgs {
		switch m.Method {
		case "tools/list":
			tools.Await(ctx, h, "")
		case "tools/call":
			tools.Await(ctx, h, m.Params.Name)
		}
	}
}

// needsTools reports whether a message lists or calls tools.
func needsTools(msgs []message) bool {
	for _, m := range msgs {
		if m.Method == "tools/list" || m.Method == "tools/call" {
			return true
		}
	}
	return false
}

// needed returns the scopes a message needs: mcp.connect for everything,
// skills.read to discover tools, the tool's own scopes to call it.
func needed(tools Tools, h *mcpv1alpha1.Handle, m message) tokens.ScopeSet {
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

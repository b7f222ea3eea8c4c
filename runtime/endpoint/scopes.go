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
		// Name is the tool of a tools/call, the prompt of a prompts/get.
		Name string `json:"name"`
		// URI is the resource of a resources/read or resources/subscribe.
		URI string `json:"uri"`
		// Ref is what a completion/complete completes: a prompt (name) or
		// a resource template (uri).
		Ref struct {
			Name string `json:"name"`
			URI  string `json:"uri"`
		} `json:"ref"`
		// Notifications are what a subscriptions/listen stream subscribes
		// to: on 2026-07-28, resources among them.
		Notifications struct {
			ResourceSubscriptions []string `json:"resourceSubscriptions"`
		} `json:"notifications"`
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

// Tools says which scopes a handle's tools, prompts and resources need.
type Tools interface {
	// ToolScopes returns the scopes needed to call the tool, and false
	// when the handle has no such tool (mcp-go then answers the call).
	ToolScopes(h *mcpv1alpha1.Handle, tool string) ([]mcpv1alpha1.Scope, bool)
	// ReadScopes returns the scopes needed to read from the toolset that
	// owns a prompt (by name) or a resource (by URI), and false when none
	// of the handle's toolsets owns it (mcp-go then answers).
	ReadScopes(h *mcpv1alpha1.Handle, prompt, uri string) ([]mcpv1alpha1.Scope, bool)
	// Await waits (bounded) while the tools of the handle's toolsets are
	// still being fetched: of the one the tool belongs to, or of all of
	// them when tool is "". A replica that has just started then answers
	// with the tools, not "tool not found".
	Await(ctx context.Context, h *mcpv1alpha1.Handle, tool string)
}

// await waits for the toolsets the messages need: the called tool's or
// the prompt's for a tools/call or a prompts/get, all of the handle's for
// the lists, reads and completions.
func await(ctx context.Context, tools Tools, h *mcpv1alpha1.Handle, msgs []message) {
	for _, m := range msgs {
		switch m.Method {
		case "tools/call", "prompts/get":
			tools.Await(ctx, h, m.Params.Name)
		case "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read", "completion/complete":
			tools.Await(ctx, h, "")
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
// skills.read to discover tools, prompts and resources, the tool's own
// scopes to call it, the toolset's read scopes to get a prompt, read a
// resource or complete an argument of either.
func needed(tools Tools, h *mcpv1alpha1.Handle, m message) tokens.ScopeSet {
	want, _ := tokens.NewScopeSet(mcpv1alpha1.ScopeMCPConnect)
	var scopes []mcpv1alpha1.Scope
	switch m.Method {
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		scopes = []mcpv1alpha1.Scope{mcpv1alpha1.ScopeSkillsRead}
	case "tools/call":
		scopes, _ = tools.ToolScopes(h, m.Params.Name)
	case "prompts/get":
		scopes, _ = tools.ReadScopes(h, m.Params.Name, "")
	case "resources/read", "resources/subscribe":
		scopes, _ = tools.ReadScopes(h, "", m.Params.URI)
	case "completion/complete":
		scopes, _ = tools.ReadScopes(h, m.Params.Ref.Name, m.Params.Ref.URI)
	case "subscriptions/listen":
		for _, uri := range m.Params.Notifications.ResourceSubscriptions {
			read, _ := tools.ReadScopes(h, "", uri)
			scopes = append(scopes, read...)
		}
	}
	s, _ := tokens.NewScopeSet(scopes...)
	return want | s
}

package endpoint

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/ratelimit"
)

// problem is an error answer of the MCP endpoint.
type problem struct {
	status      int
	code        string
	description string
	// scopes, for 401 and 403, go into the challenge's scope parameter.
	scopes []mcpv1alpha1.Scope
	// missing, for insufficient_scope, are the scopes the grant lacks.
	missing []mcpv1alpha1.Scope
	// toolCall, when set, is the id of the tools/call refused: the body is
	// then its JSON-RPC response in the tool-result form hosted connectors
	// read (isError, the challenge in _meta "mcp/www_authenticate"), and
	// the status and header stay for clients that read those.
	toolCall json.RawMessage
	// retryAfter, for 429, is the Retry-After header.
	retryAfter time.Duration
}

// toolResult is a JSON-RPC response carrying a failed tool result.
type toolResult struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  struct {
		Content []map[string]string `json:"content"`
		IsError bool                `json:"isError"`
		Meta    map[string][]string `json:"_meta,omitempty"`
	} `json:"result"`
}

// body is the JSON error document, shaped like RFC 6749 errors so one
// parser reads the authorization server's and the endpoint's errors.
type body struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// challenge is the RFC 6750 WWW-Authenticate value with the RFC 9728
// resource_metadata parameter.
func challenge(res platform.Resource, code, description string, scopes []mcpv1alpha1.Scope) string {
	var b strings.Builder
	b.WriteString(`Bearer resource_metadata="`)
	b.WriteString(res.MetadataURL())
	b.WriteString(`"`)
	if len(scopes) > 0 {
		names := make([]string, len(scopes))
		for i, s := range scopes {
			names[i] = string(s)
		}
		b.WriteString(`, scope="`)
		b.WriteString(strings.Join(names, " "))
		b.WriteString(`"`)
	}
	if code != "" {
		b.WriteString(`, error="`)
		b.WriteString(code)
		b.WriteString(`", error_description="`)
		b.WriteString(quotable(description))
		b.WriteString(`"`)
	}
	return b.String()
}

// quotable keeps a description inside an RFC 6750 quoted string, whose
// allowed characters exclude the quote and the backslash.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '\''
		}
		return r
	}, s)
}

// write answers with the problem; 401 and 403 carry the challenge.
func (p problem) write(w http.ResponseWriter, res platform.Resource) {
	h := w.Header()
	var www string
	if p.status == http.StatusUnauthorized || p.status == http.StatusForbidden && p.code == oautherr.InsufficientScope {
		www = challenge(res, p.code, p.description, p.scopes)
		h.Set("WWW-Authenticate", www)
	}
	if p.status == http.StatusTooManyRequests {
		h.Set("Retry-After", ratelimit.Seconds(p.retryAfter))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.status)
	if p.toolCall != nil {
		r := toolResult{JSONRPC: "2.0", ID: p.toolCall}
		r.Result.Content = []map[string]string{{"type": "text", "text": p.code + ": " + p.description}}
		r.Result.IsError = true
		if www != "" {
			r.Result.Meta = map[string][]string{"mcp/www_authenticate": {www}}
		}
		_ = json.NewEncoder(w).Encode(r)
		return
	}
	_ = json.NewEncoder(w).Encode(body{Error: p.code, Description: p.description})
}

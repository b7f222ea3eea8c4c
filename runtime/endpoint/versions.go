package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
)

// initializeVersion is what initialize answers a client asking for a version
// not in ProtocolVersions: the newest that still has the handshake.
var initializeVersion = func() string {
	for _, v := range ProtocolVersions {
		if !mcp.IsModernProtocol(v) {
			return v
		}
	}
	panic("ProtocolVersions has no version with the initialize handshake")
}()

// NegotiateVersion is an mcp-go BeforeInitialize hook. mcp-go's initialize
// agrees to every version it knows, 2025-03-26 and 2024-11-05 included,
// whose batches and transport this endpoint does not serve; a client asking
// for one of those (or for none) gets our newest instead, as the
// specification has the server answer, and decides whether to go on.
func NegotiateVersion(_ context.Context, _ any, req *mcp.InitializeRequest) {
	if !slices.Contains(ProtocolVersions, req.Params.ProtocolVersion) {
		req.Params.ProtocolVersion = initializeVersion
	}
}

// unservedVersion returns the request's MCP-Protocol-Version when it is one
// mcp-go knows but this endpoint does not serve; mcp-go itself refuses only
// versions it does not know.
func unservedVersion(r *http.Request) string {
	v := r.Header.Get("MCP-Protocol-Version")
	if v == "" || !mcp.IsValidProtocolVersion(v) || slices.Contains(ProtocolVersions, v) {
		return ""
	}
	return v
}

// isBatch reports whether a body is a well-formed JSON array: a JSON-RPC
// batch, which no version in ProtocolVersions allows. Malformed JSON is left
// to mcp-go's parse error.
func isBatch(raw []byte) bool {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '[' && json.Valid(trimmed)
}

// writeInvalidRequest answers a JSON-RPC Invalid Request error (-32600): the
// body parsed, but is not a request this endpoint takes.
func writeInvalidRequest(w http.ResponseWriter, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.INVALID_REQUEST, message, nil))
}

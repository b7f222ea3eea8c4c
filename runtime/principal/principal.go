// Package principal carries who is calling an MCP endpoint, and for which
// handle, from the bearer check to the tool handlers.
package principal

import (
	"context"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// Principal is an authenticated MCP request: the verified access token and
// the handle it is served for.
type Principal struct {
	// Handle is the handle the request is served for (the token's handle).
	Handle *mcpv1alpha1.Handle
	// Resource is the MCP URL the request came to.
	Resource platform.Resource
	// Token is the verified access token.
	Token tokens.Access
}

type key struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, key{}, p)
}

// FromContext returns the principal of an MCP request, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(key{}).(*Principal)
	return p
}

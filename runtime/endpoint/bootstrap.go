package endpoint

import (
	"context"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
)

// Bootstrap records, on the grant, that a connector's tool discovery
// worked: the last step of the guide's bootstrap flow, after which later
// requests need no further checks. Writes happen off the request path and
// only when the grant (read from the cache) records something else.
type Bootstrap struct {
	// Grants reads grants from the informer cache.
	Grants interface {
		Grant(ctx context.Context, name string) (*mcpv1alpha1.Connection, error)
	}
	// Recorder writes the result to the grant.
	Recorder interface {
		RecordDiscovery(ctx context.Context, name string, toolCount int, err error) error
	}
	// Handles reads handles from the cache.
	Handles Handles
	// Tools says how many tools a handle offers and which of its toolsets
	// do not answer.
	Tools interface {
		Health(ctx context.Context, h *mcpv1alpha1.Handle) (int, error)
	}
	Log *slog.Logger
	Now func() time.Time
}

// Hooks returns the mcp-go hooks that observe tool discovery.
func (b *Bootstrap) Hooks() *server.Hooks {
	hooks := &server.Hooks{}
	hooks.AddAfterListTools(func(ctx context.Context, _ any, _ *mcp.ListToolsRequest, result *mcp.ListToolsResult) {
		if p := principal.FromContext(ctx); p != nil && result != nil {
			b.Record(ctx, p.Token.Grant, len(result.Tools), nil)
		}
	})
	return hooks
}

// SmokeCheck is the bootstrap flow's check right after an authorization:
// the tools the connector will find on its handle, and any toolset that
// does not answer, recorded on the new grant before the connector's first
// tools/list.
func (b *Bootstrap) SmokeCheck(ctx context.Context, conn *mcpv1alpha1.Connection) {
	h, err := b.Handles.Handle(ctx, conn.Spec.Handle)
	if err != nil || h == nil {
		return
	}
	count, err := b.Tools.Health(ctx, h)
	b.Record(ctx, conn.Name, count, err)
}

// Record writes a discovery result to a grant unless the cached grant
// already says the same; it returns at once.
func (b *Bootstrap) Record(ctx context.Context, grant string, toolCount int, err error) {
	conn, gerr := b.Grants.Grant(ctx, grant)
	if gerr != nil || conn == nil || !grants.NeedsDiscoveryRecord(conn, toolCount, err, b.Now()) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if werr := b.Recorder.RecordDiscovery(ctx, grant, toolCount, err); werr != nil {
			b.Log.Error("tool discovery not recorded on the grant", "grant", grant, "error", werr)
		}
	}()
}

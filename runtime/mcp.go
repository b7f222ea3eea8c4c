package runtime

import (
	"context"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/runtime/endpoint"
	"github.com/10xdotin/mcp-handle-operator/runtime/leader"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
)

// MCP is the MCP side of a runtime: the endpoint, the tools behind it and
// the bootstrap flow.
type MCP struct {
	Endpoint  *endpoint.Endpoint
	Tools     *toolsets.Manager
	Bootstrap *endpoint.Bootstrap
}

// NewMCP wires the MCP endpoint into s, the way every runtime serves it:
// one mcp-go server for all handles whose tools come from the Toolsets (read
// through reader, status written through writer, nil for none), the grant
// cache for revocation (with writer, read directly for a grant the cache
// does not hold yet), and the bootstrap flow recording tool discovery on
// grants. Start the tools (Tools.Start, or Tools.Refresh per toolset) before
// serving.
func NewMCP(s *Server, reader client.Reader, writer client.Client, minter *upstream.Minter, log *slog.Logger, version string) *MCP {
	cluster := Cluster{Reader: reader, Namespace: s.Config.Namespace}
	// Tokens live upstream.DefaultLifetime unless configured; each is
	// reused for a third of its life at most.
	lifetime := minter.Lifetime
	if lifetime <= 0 {
		lifetime = upstream.DefaultLifetime
	}
	tools := &toolsets.Manager{Reader: reader, Writer: writer, Minter: minter, Log: log, TokenReuse: lifetime / 3}
	if s.Metrics != nil {
		tools.Metrics = s.Metrics
	}
	bootstrap := &endpoint.Bootstrap{Grants: cluster, Recorder: s.Grants, Handles: cluster, Tools: tools, Log: log, Now: time.Now}
	hooks := bootstrap.Hooks()
	hooks.AddBeforeInitialize(endpoint.NegotiateVersion)
	tools.Server = server.NewMCPServer("mcp-handle-operator", version, append(tools.ServerOptions(hooks), server.WithRecovery())...)
	tools.Register()
	s.Upstream = minter
	s.Authorized = bootstrap.Authorized
	var grants endpoint.Grants = cluster
	if writer != nil {
		grants = &GrantsWithFallback{Cluster: cluster, Direct: writer}
	}
	s.MCP = &endpoint.Endpoint{Config: s.Config, Handles: cluster, Grants: grants, Keys: s.Keys, Tools: tools, MCP: tools.Server, Now: time.Now}
	if s.Grants != nil {
		s.MCP.StepUps = StepUps{Cache: cluster, Store: s.Grants, Now: time.Now}
		s.MCP.Bootstrap = bootstrap
	}
	return &MCP{Endpoint: s.MCP, Tools: tools, Bootstrap: bootstrap}
}

// Start starts the tools and the reporter of each Handle's Serving
// condition, as every runtime replica does; status is written through
// writer. With an elector, only the replica holding its Lease writes status,
// and a replica that becomes the holder writes what it sees at once; nil
// writes from this replica always (one replica only).
func (m *MCP) Start(ctx context.Context, informers cache.Cache, writer client.Client, elector *leader.Elector, log *slog.Logger) error {
	serving := &ServingReporter{Reader: informers, Writer: writer, Log: log}
	if elector != nil {
		m.Tools.Leader, serving.Leader = elector, elector
		elector.OnLead(func(context.Context) { m.Tools.SyncAll() })
		elector.OnLead(serving.ReportAll)
	}
	if err := m.Tools.Start(ctx, informers); err != nil {
		return err
	}
	if err := serving.Start(ctx, informers); err != nil {
		return err
	}
	if elector != nil {
		go func() {
			if err := elector.Run(ctx); err != nil {
				log.Error("no status writer elected: this replica writes no status", "error", err)
			}
		}()
	}
	return nil
}

package endpoint

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"golang.org/x/sync/singleflight"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
)

const (
	// DefaultBootstrapTimeout bounds the bootstrap check: how long a
	// connector's first tool request may wait for the handle's toolsets
	// that are coming up.
	DefaultBootstrapTimeout = 10 * time.Second
	// BootstrapRetryInterval is how long after a failed check the
	// connection's requests go on without one: a toolset that is down
	// does not hold every request of the connection.
	BootstrapRetryInterval = time.Minute
)

// Bootstrap is the guide's connector bootstrap flow, recorded step by step
// on the grant (status.bootstrap.steps). When a code is exchanged
// (Authorized) the runtime checks tool discovery for the new connection:
// every toolset of the handle must answer with its tools, and one that is
// still coming up is fetched again until it does, within Timeout. The
// connector's first tools/list or tools/call that arrives meanwhile waits
// for that check (Ensure) and is then answered — the original request
// resumes once the connector is ready — instead of failing with "tool not
// found". Once the check has succeeded the connection is bootstrapped: the
// grant says so, and every later request, on any replica, skips the check.
// Finally the connector's own tools/list is recorded (Hooks).
type Bootstrap struct {
	// Grants reads grants from the informer cache.
	Grants interface {
		Grant(ctx context.Context, name string) (*mcpv1alpha1.Connection, error)
	}
	// Recorder writes the steps to the grant.
	Recorder interface {
		RecordDiscovery(ctx context.Context, name string, toolCount int, err error) error
		RecordStep(ctx context.Context, name string, step mcpv1alpha1.ConnectionBootstrapStep) error
	}
	// Handles reads handles from the cache.
	Handles Handles
	// Tools checks that a handle's toolsets answer with their tools.
	Tools interface {
		Check(ctx context.Context, h *mcpv1alpha1.Handle) (int, error)
	}
	// Timeout bounds the check; DefaultBootstrapTimeout when 0.
	Timeout time.Duration
	Log     *slog.Logger
	Now     func() time.Time

	checks singleflight.Group
	mu     sync.Mutex
	// done holds the grants this replica has bootstrapped, until its cache
	// shows the recorded step; failed, when this replica's last check of a
	// grant failed.
	done   map[string]bool
	failed map[string]time.Time
}

// doneLimit bounds done; past it the cache answers alone.
const doneLimit = 10000

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

// Authorized is told of a grant whose code was just exchanged: it records
// the Authorized step and starts the check, in the background, so that it
// is done or under way when the connector's first tool request arrives.
func (b *Bootstrap) Authorized(ctx context.Context, conn *mcpv1alpha1.Connection) {
	ctx = context.WithoutCancel(ctx)
	go func() {
		b.record(ctx, conn.Name, mcpv1alpha1.ConnectionBootstrapStep{Name: mcpv1alpha1.BootstrapStepAuthorized, Result: mcpv1alpha1.BootstrapSucceeded,
			Message: "the code was exchanged for tokens"})
		h, err := b.Handles.Handle(ctx, conn.Spec.Handle)
		if err != nil || h == nil {
			return
		}
		b.Ensure(ctx, conn.Name, h)
	}()
}

// Ensure returns once the grant is bootstrapped, or its check has run (or
// ctx ends): the first request through a grant runs the check, or joins the
// one under way, and later ones return at once. After a failed check the
// grant's requests go on unchecked for BootstrapRetryInterval.
func (b *Bootstrap) Ensure(ctx context.Context, grant string, h *mcpv1alpha1.Handle) {
	if b.bootstrapped(ctx, grant) || b.failedRecently(grant) {
		return
	}
	result := b.checks.DoChan(grant, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout())
		defer cancel()
		count, err := b.Tools.Check(ctx, h)
		step := mcpv1alpha1.ConnectionBootstrapStep{Name: mcpv1alpha1.BootstrapStepToolsChecked, Result: mcpv1alpha1.BootstrapSucceeded,
			Message: fmt.Sprintf("the handle's toolsets answered with %d tools", count)}
		if err != nil {
			step.Result, step.Message = mcpv1alpha1.BootstrapFailed, err.Error()
		}
		// Recorded before the waiting requests go on, so the grant shows
		// the step by the time the connector sees its first answer.
		b.record(ctx, grant, step)
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.done == nil || len(b.done) >= doneLimit {
			b.done = map[string]bool{}
		}
		if b.failed == nil || len(b.failed) >= doneLimit {
			b.failed = map[string]time.Time{}
		}
		if err == nil {
			b.done[grant] = true
			delete(b.failed, grant)
		} else {
			b.failed[grant] = b.Now()
		}
		return nil, nil
	})
	select {
	case <-result:
	case <-ctx.Done():
	}
}

// bootstrapped reports whether the grant's check has succeeded, as this
// replica saw it or its cache records it.
func (b *Bootstrap) bootstrapped(ctx context.Context, grant string) bool {
	b.mu.Lock()
	done := b.done[grant]
	b.mu.Unlock()
	if done {
		return true
	}
	conn, err := b.Grants.Grant(ctx, grant)
	return err == nil && conn != nil && grants.Bootstrapped(conn)
}

func (b *Bootstrap) failedRecently(grant string) bool {
	b.mu.Lock()
	at, failed := b.failed[grant]
	b.mu.Unlock()
	return failed && b.Now().Sub(at) < BootstrapRetryInterval
}

func (b *Bootstrap) record(ctx context.Context, grant string, step mcpv1alpha1.ConnectionBootstrapStep) {
	step.Time = &metav1.Time{Time: b.Now()}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Recorder.RecordStep(ctx, grant, step); err != nil {
		b.Log.Error("bootstrap step not recorded on the grant", "grant", grant, "step", step.Name, "error", err)
	}
}

func (b *Bootstrap) timeout() time.Duration {
	if b.Timeout > 0 {
		return b.Timeout
	}
	return DefaultBootstrapTimeout
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

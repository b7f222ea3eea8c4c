package runtime

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
)

// Active reports whether a grant exists and is not being deleted. Every
// replica reads it from its informer cache, so `kubectl delete connection`
// revokes the grant's access tokens everywhere as soon as the watch event
// arrives.
func (c Cluster) Active(ctx context.Context, name string) (bool, error) {
	conn, err := c.Grant(ctx, name)
	if err != nil || conn == nil {
		return false, err
	}
	return conn.DeletionTimestamp == nil, nil
}

// Grant returns the named grant, or nil.
func (c Cluster) Grant(ctx context.Context, name string) (*mcpv1alpha1.Connection, error) {
	return get[mcpv1alpha1.Connection](ctx, c.Reader, "", name)
}

// goneGrantsLimit bounds the grants GrantsWithFallback remembers as gone.
const goneGrantsLimit = 10000

// GrantsWithFallback answers Active from the informer cache and, for a
// grant the cache does not hold, from the apiserver: a grant approved a
// moment ago through another replica, or while this replica's watch was
// being re-established after an apiserver outage, is not in the cache yet,
// and its fresh token must not be taken for a revoked one. A grant the
// apiserver does not have either is remembered as gone (grant names are
// random and never come back), so a revoked token costs one read.
type GrantsWithFallback struct {
	Cluster
	Direct client.Reader

	mu   sync.Mutex
	gone map[string]struct{}
}

// Active reports whether the grant exists and is not being deleted.
func (g *GrantsWithFallback) Active(ctx context.Context, name string) (bool, error) {
	conn, err := g.Grant(ctx, name)
	if err != nil {
		return false, err
	}
	if conn != nil {
		return conn.DeletionTimestamp == nil, nil
	}
	g.mu.Lock()
	_, gone := g.gone[name]
	g.mu.Unlock()
	if gone {
		return false, nil
	}
	fresh := &mcpv1alpha1.Connection{}
	err = g.Direct.Get(ctx, types.NamespacedName{Name: name}, fresh)
	if apierrors.IsNotFound(err) {
		g.mu.Lock()
		if g.gone == nil || len(g.gone) >= goneGrantsLimit {
			g.gone = map[string]struct{}{}
		}
		g.gone[name] = struct{}{}
		g.mu.Unlock()
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fresh.DeletionTimestamp == nil, nil
}

// StepUps records step-ups through the grant store, skipping the write when
// the cached grant already records the same refusal (a client retrying a
// refused tool call writes nothing more).
type StepUps struct {
	Cache Cluster
	Store *grants.Store
	Now   func() time.Time
}

// RequestStepUp records that a request through the grant lacked the scopes.
func (s StepUps) RequestStepUp(ctx context.Context, grant string, scopes []mcpv1alpha1.Scope) error {
	if conn, err := s.Cache.Grant(ctx, grant); err == nil && conn != nil && !grants.NeedsStepUpRecord(conn, scopes, s.Now()) {
		return nil
	}
	return s.Store.RequestStepUp(ctx, grant, scopes)
}

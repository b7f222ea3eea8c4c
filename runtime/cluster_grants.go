package runtime

import (
	"context"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
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

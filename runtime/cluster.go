package runtime

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// ClusterHandles reads handles through a client, in production the
// informer-backed cache, so a handle added or changed with kubectl is seen
// without a restart.
type ClusterHandles struct {
	Reader client.Reader
}

// Handle returns the named handle, or nil when it does not exist.
func (c ClusterHandles) Handle(ctx context.Context, name string) (*mcpv1alpha1.Handle, error) {
	h := &mcpv1alpha1.Handle{}
	if err := c.Reader.Get(ctx, types.NamespacedName{Name: name}, h); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read handle %s: %w", name, err)
	}
	return h, nil
}

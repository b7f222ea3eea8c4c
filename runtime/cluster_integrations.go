package runtime

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
)

// OAuthClients returns every OAuthClient, for the MCP & Tools page.
func (c Cluster) OAuthClients(ctx context.Context) ([]mcpv1alpha1.OAuthClient, error) {
	var l mcpv1alpha1.OAuthClientList
	if err := c.Reader.List(ctx, &l); err != nil {
		return nil, fmt.Errorf("failed to list OAuthClients: %w", err)
	}
	return l.Items, nil
}

// HandleGrants returns the grants of a handle (labelled with it when
// created), for the MCP & Tools page.
func (c Cluster) HandleGrants(ctx context.Context, handle string) ([]mcpv1alpha1.Connection, error) {
	var l mcpv1alpha1.ConnectionList
	if err := c.Reader.List(ctx, &l, client.MatchingLabels{grants.LabelHandle: handle}); err != nil {
		return nil, fmt.Errorf("failed to list the grants of %s: %w", handle, err)
	}
	out := l.Items[:0]
	for _, conn := range l.Items {
		if conn.Spec.Handle == handle {
			out = append(out, conn)
		}
	}
	return out, nil
}

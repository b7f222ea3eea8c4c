package v1alpha1_test

import (
	"slices"
	"testing"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

func TestConnectorScopes(t *testing.T) {
	links := &mcpv1alpha1.ToolsetSpec{Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}}
	pages := &mcpv1alpha1.ToolsetSpec{Tools: []mcpv1alpha1.ToolOverride{{Name: "publish", Scopes: []mcpv1alpha1.Scope{"pages.write", "analytics.read"}}}}
	for _, tc := range []struct {
		name     string
		offered  []mcpv1alpha1.Scope
		toolsets []*mcpv1alpha1.ToolsetSpec
		want     []mcpv1alpha1.Scope
	}{
		{"no toolsets", nil, nil, []mcpv1alpha1.Scope{"mcp.connect", "skills.read"}},
		{"read and write scopes, catalogue order", nil, []*mcpv1alpha1.ToolsetSpec{pages, links},
			[]mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.read", "links.write", "analytics.read", "pages.write"}},
		{"within what the handle offers", []mcpv1alpha1.Scope{"mcp.connect", "links.read", "pages.write"}, []*mcpv1alpha1.ToolsetSpec{pages, links},
			[]mcpv1alpha1.Scope{"mcp.connect", "links.read", "pages.write"}},
	} {
		h := &mcpv1alpha1.Handle{Spec: mcpv1alpha1.HandleSpec{Scopes: tc.offered}}
		if got := h.ConnectorScopes(tc.toolsets); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

package toolsets

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// A replica that has just started has not fetched any tool list yet. Until
// a Toolset's first fetch has ended, Ready says the replica is not ready and
// Await holds the requests that need its tools, so that a replica that has
// just started never answers "tool not found" for a tool that exists.

// Ready returns nil once the first fetch of every Toolset's tools has ended
// (with the tools, or with the error that the Toolset's status then
// reports), and else an error naming the Toolsets still being fetched. Each
// fetch is bounded by its Toolset's timeout, so an upstream that does not
// answer keeps a replica unready for that long at most.
func (m *Manager) Ready(ctx context.Context) error {
	list := &mcpv1alpha1.ToolsetList{}
	if err := m.Reader.List(ctx, list); err != nil {
		return fmt.Errorf("failed to list the Toolsets: %w", err)
	}
	var pending []string
	m.mu.RLock()
	for i := range list.Items {
		if st := m.sets[list.Items[i].Name]; st == nil || !st.isFetched() {
			pending = append(pending, list.Items[i].Name)
		}
	}
	m.mu.RUnlock()
	if len(pending) > 0 {
		return fmt.Errorf("the tools of toolsets %s are being fetched", strings.Join(pending, ", "))
	}
	return nil
}

// Await waits until the first fetch of the tools of h's toolsets has ended:
// of the one the tool name belongs to, or of all of them when tool is "".
// It waits at most each toolset's timeout, and not past ctx.
func (m *Manager) Await(ctx context.Context, h *mcpv1alpha1.Handle, tool string) {
	if h == nil {
		return
	}
	for _, ref := range h.Spec.Toolsets {
		if tool != "" && !strings.HasPrefix(tool, ref.Name+"_") {
			continue
		}
		st, timeout := m.warming(ctx, ref.Name)
		if st == nil {
			continue
		}
		timer := time.NewTimer(timeout)
		select {
		case <-st.fetched:
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
}

// warming returns the state of a Toolset whose first fetch has not ended,
// with the Toolset's timeout, or nil. A Toolset the informer has delivered
// to the reader but not yet to the event handler gets its worker here.
func (m *Manager) warming(ctx context.Context, name string) (*state, time.Duration) {
	m.mu.RLock()
	st := m.sets[name]
	m.mu.RUnlock()
	if st != nil && st.isFetched() {
		return nil, 0
	}
	ts := &mcpv1alpha1.Toolset{}
	if err := m.Reader.Get(ctx, types.NamespacedName{Name: name}, ts); err != nil {
		return nil, 0
	}
	if st == nil {
		m.Sync(name)
		m.mu.RLock()
		st = m.sets[name]
		m.mu.RUnlock()
	}
	if st == nil {
		return nil, 0
	}
	return st, Timeout(&ts.Spec)
}

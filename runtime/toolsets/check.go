package toolsets

import (
	"context"
	"fmt"
	"strings"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// checkRetry is the first pause between the bootstrap check's fetches of a
// toolset that does not answer yet; it doubles up to a second.
const checkRetry = 100 * time.Millisecond

// Check is the bootstrap flow's check of tool discovery for a new
// connection: every toolset of h must answer with its tools. A toolset
// whose last fetch failed (or that has not been fetched) is fetched again
// at once and then again after a short pause, until it answers or ctx ends;
// the background worker would wait for its backoff instead, which can be
// seconds when an upstream is coming up with the connector. It returns how
// many tools h offers and an error naming the toolsets that still do not
// answer or do not exist.
func (m *Manager) Check(ctx context.Context, h *mcpv1alpha1.Handle) (int, error) {
	pause := checkRetry
	for {
		var waiting []string
		for _, ref := range h.Spec.Toolsets {
			if m.listed(ref.Name) {
				continue
			}
			// A Toolset that does not exist is forgotten by the refresh:
			// there is nothing to wait for, Health names it.
			if err := m.Refresh(ctx, ref.Name); err != nil && m.known(ref.Name) && !m.listed(ref.Name) {
				waiting = append(waiting, ref.Name)
			}
		}
		if len(waiting) == 0 {
			var missing []string
			for _, ref := range h.Spec.Toolsets {
				if !m.listed(ref.Name) {
					missing = append(missing, ref.Name)
				}
			}
			if len(missing) > 0 {
				return m.count(h), fmt.Errorf("toolsets %s do not exist", strings.Join(missing, ", "))
			}
			return m.count(h), nil
		}
		select {
		case <-ctx.Done():
			return m.count(h), fmt.Errorf("toolsets %s did not answer with their tools in time", strings.Join(waiting, ", "))
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// listed reports whether the named toolset's last fetch succeeded.
func (m *Manager) listed(name string) bool {
	m.mu.RLock()
	st := m.sets[name]
	m.mu.RUnlock()
	return st != nil && st.listed.Load()
}

// known reports whether the Manager has the named toolset.
func (m *Manager) known(name string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.sets[name] != nil
}

// count returns how many tools h offers now.
func (m *Manager) count(h *mcpv1alpha1.Handle) int {
	n := 0
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, e := range m.tools {
		if !e.owner.removed.Load() && names(h, e.Toolset) {
			n++
		}
	}
	return n
}

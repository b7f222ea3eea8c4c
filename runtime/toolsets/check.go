package toolsets

import (
	"context"
	"fmt"
	"strings"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

const (
	// checkRetry is the first pause between the bootstrap check's fetches
	// of a toolset that is coming up; it doubles up to a second.
	checkRetry = 100 * time.Millisecond
	// ComingUpWindow is how long a toolset whose fetches fail fast counts
	// as coming up (an upstream starting next to the connector: refused
	// connections, 503s, a JWK Set it cannot fetch yet). After that it is
	// down, and the bootstrap check no longer waits for it.
	ComingUpWindow = 2 * time.Minute
)

// Check is the bootstrap flow's check of tool discovery for a new
// connection: every toolset of h must answer with its tools. A toolset
// still being fetched for the first time is waited for; one that is coming
// up is fetched again at once and then after a short pause, until it
// answers or ctx ends, where the background worker would wait for its
// backoff. A toolset that is down — its fetch timed out (each try would
// cost its whole timeout), or it has failed for longer than ComingUpWindow
// — or that does not exist is not waited for: nothing waits on a bad
// upstream. It returns how many tools h offers and an error naming the
// toolsets that do not answer.
func (m *Manager) Check(ctx context.Context, h *mcpv1alpha1.Handle) (int, error) {
	pause := checkRetry
	for {
		var waiting, down []string
		for _, ref := range h.Spec.Toolsets {
			switch m.checkOne(ctx, ref.Name) {
			case toolsetDown:
				down = append(down, ref.Name)
			case toolsetComingUp:
				waiting = append(waiting, ref.Name)
			}
		}
		if len(waiting) == 0 {
			if len(down) > 0 {
				return m.count(h), fmt.Errorf("toolsets %s do not answer or do not exist (see their status)", strings.Join(down, ", "))
			}
			return m.count(h), nil
		}
		select {
		case <-ctx.Done():
			return m.count(h), fmt.Errorf("toolsets %s did not answer with their tools in time", strings.Join(append(waiting, down...), ", "))
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

type toolsetCheck int

const (
	toolsetReady toolsetCheck = iota
	toolsetComingUp
	toolsetDown
)

// checkOne judges one toolset for Check, fetching it again when it is
// coming up (or not known yet).
func (m *Manager) checkOne(ctx context.Context, name string) toolsetCheck {
	st := m.lookup(name)
	if st != nil && !st.isFetched() {
		select {
		case <-st.fetched:
		case <-ctx.Done():
			return toolsetComingUp
		}
	}
	if st == nil || !st.listed.Load() && m.comingUp(st) {
		// A name not seen yet gets its state here; a Toolset that does
		// not exist is forgotten by the refresh.
		_ = m.Refresh(ctx, name)
		st = m.lookup(name)
	}
	switch {
	case st == nil:
		return toolsetDown
	case st.listed.Load():
		return toolsetReady
	case m.comingUp(st):
		return toolsetComingUp
	}
	return toolsetDown
}

// comingUp reports whether st's fetches fail fast and started failing
// less than ComingUpWindow ago.
func (m *Manager) comingUp(st *state) bool {
	since := st.failingSince.Load()
	return since != 0 && !st.timedOut.Load() && m.now().Sub(time.Unix(0, since)) < ComingUpWindow
}

// lookup returns the named toolset's state, or nil.
func (m *Manager) lookup(name string) *state {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.sets[name]
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

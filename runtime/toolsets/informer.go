package toolsets

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// Informers gives the Toolset informer; the runtime's cache.Cache is one.
type Informers interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// Start keeps the Manager in step with the Toolsets until ctx ends: every
// Toolset is synced when the informer adds it and when its generation (its
// spec) changes, and removed when it is deleted. Status-only updates, the
// Manager's own writes among them, sync nothing. GetInformer blocks until
// the informer has synced, so call Start after the cache is started. When
// ctx ends the handler is removed and every refresh worker stops.
func (m *Manager) Start(ctx context.Context, informers Informers) error {
	m.mu.Lock()
	m.base = ctx
	m.mu.Unlock()
	inf, err := informers.GetInformer(ctx, &mcpv1alpha1.Toolset{})
	if err != nil {
		return fmt.Errorf("failed to get the Toolset informer: %w", err)
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if ts, ok := obj.(*mcpv1alpha1.Toolset); ok {
				m.Sync(ts.Name)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*mcpv1alpha1.Toolset)
			n, ok2 := newObj.(*mcpv1alpha1.Toolset)
			if ok1 && ok2 && o.Generation != n.Generation {
				m.Sync(n.Name)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if ts, ok := obj.(*mcpv1alpha1.Toolset); ok {
				m.Remove(ts.Name)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("failed to watch Toolsets: %w", err)
	}
	go func() {
		<-ctx.Done()
		_ = inf.RemoveEventHandler(reg)
		m.Stop()
	}()
	return nil
}

// Stop stops every refresh worker and closes the upstream connections; the
// registered tools stay.
func (m *Manager) Stop() {
	m.mu.Lock()
	sets := make([]*state, 0, len(m.sets))
	for _, st := range m.sets {
		sets = append(sets, st)
	}
	m.mu.Unlock()
	for _, st := range sets {
		st.cancel()
		<-st.done
		st.refreshMu.Lock()
		if st.conn != nil {
			st.conn.close()
		}
		st.refreshMu.Unlock()
	}
}

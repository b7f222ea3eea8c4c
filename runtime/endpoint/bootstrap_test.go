package endpoint

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// cachedGrants is an informer cache of grants.
type cachedGrants map[string]*mcpv1alpha1.Connection

func (c cachedGrants) Grant(_ context.Context, name string) (*mcpv1alpha1.Connection, error) {
	return c[name], nil
}

// steps records the steps written.
type steps struct {
	mu  sync.Mutex
	got []mcpv1alpha1.ConnectionBootstrapStep
}

func (s *steps) RecordDiscovery(context.Context, string, int, error) error { return nil }
func (s *steps) RecordStep(_ context.Context, _ string, st mcpv1alpha1.ConnectionBootstrapStep) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, st)
	return nil
}

// checker counts checks; each takes a moment and fails while fail is set.
type checker struct {
	calls atomic.Int32
	fail  atomic.Bool
}

func (c *checker) Check(context.Context, *mcpv1alpha1.Handle) (int, error) {
	c.calls.Add(1)
	time.Sleep(50 * time.Millisecond)
	if c.fail.Load() {
		return 0, errors.New("toolsets links did not answer with their tools in time")
	}
	return 3, nil
}

// A connection's first tool requests share one check; once it has
// succeeded, requests through the grant skip it — also on a replica that
// only sees the recorded step in its cache; after a failed check the
// connection's requests go on unchecked for BootstrapRetryInterval, then
// the next one checks again.
func TestBootstrapChecksOncePerConnection(t *testing.T) {
	h := &mcpv1alpha1.Handle{}
	rec, tools := &steps{}, &checker{}
	cache := cachedGrants{}
	now := time.Now()
	clock := func() time.Time { return now }
	b := &Bootstrap{Grants: cache, Recorder: rec, Tools: tools, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock}

	tools.fail.Store(true)
	b.Ensure(context.Background(), "conn-a", h)
	b.Ensure(context.Background(), "conn-a", h)
	if n := tools.calls.Load(); n != 1 {
		t.Fatalf("a failing check ran %d times for two requests within a minute, want 1", n)
	}
	now = now.Add(BootstrapRetryInterval)
	b.Ensure(context.Background(), "conn-a", h)
	if n := tools.calls.Load(); n != 2 {
		t.Fatalf("no check again after the retry interval: %d checks", n)
	}
	tools.fail.Store(false)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { b.Ensure(context.Background(), "conn-b", h) })
	}
	wg.Wait()
	b.Ensure(context.Background(), "conn-b", h)
	if n := tools.calls.Load(); n != 3 {
		t.Errorf("six requests of a new connection ran %d checks, want 1", n-2)
	}
	if last := rec.got[len(rec.got)-1]; last.Name != mcpv1alpha1.BootstrapStepToolsChecked || last.Result != mcpv1alpha1.BootstrapSucceeded ||
		last.Message != "the handle's toolsets answered with 3 tools" {
		t.Errorf("recorded %+v", last)
	}

	// Another replica (or this one after a restart) reads the step.
	other := &Bootstrap{Grants: cache, Recorder: rec, Tools: tools, Log: b.Log, Now: clock}
	cache["conn-b"] = &mcpv1alpha1.Connection{Status: mcpv1alpha1.ConnectionStatus{Bootstrap: &mcpv1alpha1.ConnectionBootstrap{
		Steps: []mcpv1alpha1.ConnectionBootstrapStep{{Name: mcpv1alpha1.BootstrapStepToolsChecked, Result: mcpv1alpha1.BootstrapSucceeded}}}}}
	other.Ensure(context.Background(), "conn-b", h)
	if n := tools.calls.Load(); n != 3 {
		t.Errorf("a bootstrapped connection was checked again on another replica")
	}
}

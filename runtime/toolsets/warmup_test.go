package toolsets_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// startOnInformers starts m as the runtime does, on an informer cache.
func startOnInformers(t *testing.T, ctx context.Context) *toolsets.Manager {
	t.Helper()
	informers, err := cache.New(env.Config, cache.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("the informer cache did not sync")
	}
	m := newManager(t, newMinter(t))
	m.Reader = informers
	if err := m.Start(ctx, informers); err != nil {
		t.Fatal(err)
	}
	return m
}

// A replica that has just started is not ready, and holds the calls and
// lists of a handle, until the first fetch of its toolsets' tools has
// ended; then the tools are there ("tool not found" is never the answer
// for a tool that exists).
func TestWarmUpWaitsForTheFirstFetch(t *testing.T) {
	up := startUpstream(t, echoTool("list_links", ptr(true)))
	gate := make(chan struct{})
	up.setHook(func(_ http.ResponseWriter, method string) bool {
		if method == "tools/list" {
			<-gate
		}
		return false
	})
	createToolset(t, "warming", mcpv1alpha1.ToolsetSpec{URL: up.URL, Scopes: linksScopes})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := startOnInformers(t, ctx)
	acme := handle("acme", "warming")

	if err := m.Ready(ctx); err == nil || !strings.Contains(err.Error(), "warming") {
		t.Errorf("Ready while the tools are being fetched: %v", err)
	}
	called := make(chan struct{})
	go func() {
		m.Await(ctx, acme, "warming_list_links")
		close(called)
	}()
	select {
	case <-called:
		t.Fatal("Await returned while the first fetch was held")
	case <-time.After(300 * time.Millisecond):
	}
	close(gate)
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("Await did not return after the fetch ended")
	}
	if _, ok := m.Lookup(acme, "warming_list_links"); !ok {
		t.Error("the tool is not there once Await returned")
	}
	if err := m.Ready(ctx); err != nil {
		t.Errorf("Ready after the first fetch: %v", err)
	}
	// A tool of a toolset the handle does not name, or that no toolset has,
	// is not waited for.
	start := time.Now()
	m.Await(ctx, acme, "other_tool")
	m.Await(ctx, handle("beta"), "")
	if d := time.Since(start); d > time.Second {
		t.Errorf("Await of tools no toolset warms up took %s", d)
	}
}

// An upstream that never answers keeps a replica unready, and a call
// waiting, for the toolset's timeout at most; the Toolset's status then says
// why its tools are missing.
func TestWarmUpIsBoundedByTheToolsetTimeout(t *testing.T) {
	up := startUpstream(t, echoTool("list_links", ptr(true)))
	release := make(chan struct{})
	defer close(release)
	up.setHook(func(_ http.ResponseWriter, method string) bool {
		if method == "tools/list" {
			<-release
		}
		return false
	})
	createToolset(t, "silent", mcpv1alpha1.ToolsetSpec{URL: up.URL, Timeout: &metav1.Duration{Duration: time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := startOnInformers(t, ctx)

	start := time.Now()
	m.Await(ctx, handle("acme", "silent"), "silent_list_links")
	waited := time.Since(start)
	if waited > 5*time.Second {
		t.Errorf("a call waited %s for an upstream with a 1 s timeout", waited)
	}
	waitfor.Eventually(t, 5*time.Second, "ready despite the silent upstream", func() error { return m.Ready(ctx) })
	waitfor.Eventually(t, 5*time.Second, "the silent toolset's status", func() error {
		c := meta.FindStatusCondition(getToolset(t, "silent").Status.Conditions, mcpv1alpha1.ToolsetConditionReachable)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "did not answer in time") {
			return errorf("Reachable = %+v", c)
		}
		return nil
	})
	if _, ok := m.Lookup(handle("acme", "silent"), "silent_list_links"); ok {
		t.Error("a tool of an upstream that never listed it")
	}
}

package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

func TestServingFollowsToolsetsAndSuspension(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := env.Client
	for _, o := range []*mcpv1alpha1.Toolset{
		{ObjectMeta: metav1.ObjectMeta{Name: "serving-a"}, Spec: mcpv1alpha1.ToolsetSpec{URL: "http://a.example/mcp"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "serving-b"}, Spec: mcpv1alpha1.ToolsetSpec{URL: "http://b.example/mcp"}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	setReachable := func(name string, status metav1.ConditionStatus, message string) {
		t.Helper()
		ts := &mcpv1alpha1.Toolset{}
		if err := c.Get(ctx, types.NamespacedName{Name: name}, ts); err != nil {
			t.Fatal(err)
		}
		meta.SetStatusCondition(&ts.Status.Conditions, metav1.Condition{Type: mcpv1alpha1.ToolsetConditionReachable, Status: status, Reason: "Test", Message: message})
		if err := c.Status().Update(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	setReachable("serving-a", metav1.ConditionTrue, "listed 2 tools")
	h := &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "serving"}, Spec: mcpv1alpha1.HandleSpec{
		Members:  []mcpv1alpha1.HandleMember{{User: "alice@example.com"}},
		Toolsets: []mcpv1alpha1.ToolsetReference{{Name: "serving-a"}, {Name: "serving-b"}}}}
	if err := c.Create(ctx, h); err != nil {
		t.Fatal(err)
	}

	informers, err := cache.New(env.Config, cache.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	reporter := &runtime.ServingReporter{Reader: informers, Writer: c, Log: slog.Default()}
	if err := reporter.Start(ctx, informers); err != nil {
		t.Fatal(err)
	}

	waitFor := func(status metav1.ConditionStatus, reason string) {
		t.Helper()
		waitfor.Eventually(t, 10*time.Second, fmt.Sprintf("Serving %s %s", status, reason), func() error {
			got := &mcpv1alpha1.Handle{}
			if err := c.Get(ctx, types.NamespacedName{Name: "serving"}, got); err != nil {
				return err
			}
			if cond := meta.FindStatusCondition(got.Status.Conditions, mcpv1alpha1.HandleConditionServing); cond == nil || cond.Status != status || cond.Reason != reason {
				return fmt.Errorf("Serving %+v", cond)
			}
			return nil
		})
	}
	waitFor(metav1.ConditionFalse, mcpv1alpha1.HandleReasonToolsetPending)
	setReachable("serving-b", metav1.ConditionFalse, "connection refused")
	waitFor(metav1.ConditionFalse, mcpv1alpha1.HandleReasonToolsetUnreachable)
	setReachable("serving-b", metav1.ConditionTrue, "listed 1 tool")
	waitFor(metav1.ConditionTrue, mcpv1alpha1.HandleReasonServing)

	got := &mcpv1alpha1.Handle{}
	if err := c.Get(ctx, types.NamespacedName{Name: "serving"}, got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Suspended = true
	if err := c.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	waitFor(metav1.ConditionFalse, mcpv1alpha1.HandleReasonSuspended)
	// The runtime owns the Serving condition under its own field manager.
	if err := c.Get(ctx, types.NamespacedName{Name: "serving"}, got); err != nil {
		t.Fatal(err)
	}
	owned := false
	for _, f := range got.ManagedFields {
		owned = owned || f.Manager == runtime.RuntimeFieldOwner && f.Subresource == "status"
	}
	if !owned {
		t.Errorf("no status fields managed by %s: %+v", runtime.RuntimeFieldOwner, got.ManagedFields)
	}
}

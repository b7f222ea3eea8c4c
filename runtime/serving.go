package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	mcpapply "github.com/10xdotin/mcp-handle-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/ssa"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
)

// RuntimeFieldOwner is the field manager of everything the runtime writes
// to objects the operator also writes (the Handle's Serving condition,
// Toolset status).
const RuntimeFieldOwner = "mcp-handle-runtime"

// ServingReporter writes each Handle's Serving condition: True when the
// runtime serves it and every toolset it names answers. Every replica runs
// one, and only the elected one (Leader) writes; a write happens only when
// the cached condition differs, so a steady state costs nothing.
type ServingReporter struct {
	// Reader is the informer cache; Writer writes to the apiserver.
	Reader client.Reader
	Writer client.Client
	Log    *slog.Logger
	// Leader says whether this replica writes status now; nil: always.
	Leader toolsets.Leader

	queue workqueue.TypedRateLimitingInterface[string]
}

// Start watches Handles and Toolsets and reports until ctx ends.
func (s *ServingReporter) Start(ctx context.Context, informers cache.Informers) error {
	s.queue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	handles, err := informers.GetInformer(ctx, &mcpv1alpha1.Handle{})
	if err != nil {
		return fmt.Errorf("failed to watch Handles: %w", err)
	}
	if _, err := handles.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.enqueue(o) },
		UpdateFunc: func(_, o any) { s.enqueue(o) },
	}); err != nil {
		return err
	}
	toolsets, err := informers.GetInformer(ctx, &mcpv1alpha1.Toolset{})
	if err != nil {
		return fmt.Errorf("failed to watch Toolsets: %w", err)
	}
	onToolset := func(o any) { s.enqueueUsersOf(ctx, o) }
	if _, err := toolsets.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: onToolset, UpdateFunc: func(_, o any) { onToolset(o) }, DeleteFunc: onToolset,
	}); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	for range 2 {
		go s.work(ctx)
	}
	return nil
}

func (s *ServingReporter) enqueue(o any) {
	if h, ok := o.(*mcpv1alpha1.Handle); ok {
		s.queue.Add(h.Name)
	}
}

// enqueueUsersOf queues the handles that name a toolset.
func (s *ServingReporter) enqueueUsersOf(ctx context.Context, o any) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	ts, ok := o.(*mcpv1alpha1.Toolset)
	if !ok {
		return
	}
	var l mcpv1alpha1.HandleList
	if err := s.Reader.List(ctx, &l); err != nil {
		s.Log.Error("handles not listed", "error", err)
		return
	}
	for i := range l.Items {
		for _, ref := range l.Items[i].Spec.Toolsets {
			if ref.Name == ts.Name {
				s.queue.Add(l.Items[i].Name)
			}
		}
	}
}

func (s *ServingReporter) work(ctx context.Context) {
	for {
		name, shutdown := s.queue.Get()
		if shutdown {
			return
		}
		if err := s.report(ctx, name); err != nil {
			s.Log.Error("Serving not reported", "handle", name, "error", err)
			s.queue.AddRateLimited(name)
		} else {
			s.queue.Forget(name)
		}
		s.queue.Done(name)
	}
}

// ReportAll queues every handle: a replica that has just become the status
// writer writes what it sees.
func (s *ServingReporter) ReportAll(ctx context.Context) {
	var l mcpv1alpha1.HandleList
	if err := s.Reader.List(ctx, &l); err != nil {
		s.Log.Error("handles not listed", "error", err)
		return
	}
	for i := range l.Items {
		s.queue.Add(l.Items[i].Name)
	}
}

// report writes one handle's Serving condition when it changed.
func (s *ServingReporter) report(ctx context.Context, name string) error {
	if s.Leader != nil && !s.Leader.Leading() {
		return nil
	}
	h, err := get[mcpv1alpha1.Handle](ctx, s.Reader, "", name)
	if err != nil || h == nil {
		return err
	}
	want, err := s.serving(ctx, h)
	if err != nil {
		return err
	}
	if have := meta.FindStatusCondition(h.Status.Conditions, want.Type); have != nil &&
		have.Status == want.Status && have.Reason == want.Reason && have.Message == want.Message && have.ObservedGeneration == want.ObservedGeneration {
		return nil
	}
	want.LastTransitionTime = metav1.NewTime(time.Now().Truncate(time.Second))
	if have := meta.FindStatusCondition(h.Status.Conditions, want.Type); have != nil && have.Status == want.Status {
		want.LastTransitionTime = have.LastTransitionTime
	}
	status := mcpapply.HandleStatus().WithConditions(ssa.Conditions(want)...)
	return ssa.ApplyStatus(ctx, s.Writer, mcpapply.Handle(name).WithStatus(status), RuntimeFieldOwner)
}

// serving computes the condition from the handle and its toolsets' status.
func (s *ServingReporter) serving(ctx context.Context, h *mcpv1alpha1.Handle) (metav1.Condition, error) {
	c := metav1.Condition{Type: mcpv1alpha1.HandleConditionServing, Status: metav1.ConditionFalse, ObservedGeneration: h.Generation}
	if h.Spec.Suspended {
		c.Reason, c.Message = mcpv1alpha1.HandleReasonSuspended, "the handle is suspended: its MCP endpoint answers 403 handle_suspended"
		return c, nil
	}
	var problems []string
	reason := ""
	for _, ref := range h.Spec.Toolsets {
		ts, err := get[mcpv1alpha1.Toolset](ctx, s.Reader, "", ref.Name)
		if err != nil {
			return c, err
		}
		r, msg := toolsets.Problem(ref.Name, ts)
		if r != "" {
			if reason == "" {
				reason = r
			}
			problems = append(problems, msg)
		}
	}
	if reason != "" {
		c.Reason, c.Message = reason, strings.Join(problems, "; ")
		return c, nil
	}
	c.Status, c.Reason = metav1.ConditionTrue, mcpv1alpha1.HandleReasonServing
	c.Message = fmt.Sprintf("the runtime serves the handle with %d toolset(s)", len(h.Spec.Toolsets))
	return c, nil
}

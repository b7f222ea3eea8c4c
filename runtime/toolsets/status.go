package toolsets

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	mcpapply "github.com/10xdotin/mcp-handle-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/ssa"
)

// maxMessage bounds the condition message.
const maxMessage = 1024

// reachable returns the Reachable condition after a list that found count
// tools or failed with listErr.
func reachable(generation int64, count int32, listErr error) metav1.Condition {
	c := metav1.Condition{Type: mcpv1alpha1.ToolsetConditionReachable, ObservedGeneration: generation}
	if listErr == nil {
		c.Status, c.Reason = metav1.ConditionTrue, mcpv1alpha1.ToolsetReasonToolsListed
		c.Message = fmt.Sprintf("the upstream lists %d tools", count)
		return c
	}
	c.Status, c.Reason = metav1.ConditionFalse, mcpv1alpha1.ToolsetReasonUpstreamError
	c.Message = listErr.Error()
	if len(c.Message) > maxMessage {
		c.Message = c.Message[:maxMessage]
	}
	return c
}

// statusCurrent reports whether ts's status already says cond, count and the
// generation, so there is nothing to write.
func statusCurrent(ts *mcpv1alpha1.Toolset, cond metav1.Condition, count int32) bool {
	old := meta.FindStatusCondition(ts.Status.Conditions, cond.Type)
	return old != nil && old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message &&
		old.ObservedGeneration == cond.ObservedGeneration &&
		ts.Status.ToolCount == count && ts.Status.ObservedGeneration == ts.Generation
}

// writeStatus applies the Toolset's Reachable condition, toolCount and
// observedGeneration with the runtime's field manager, only when they
// differ from what ts (as read for this refresh) says. Only the elected
// replica writes (Leader): replicas may see an upstream differently, and
// each writing what it saw would flip the condition. Status writes do not
// change the generation, so they trigger no refresh.
func (m *Manager) writeStatus(ctx context.Context, ts *mcpv1alpha1.Toolset, count int32, listErr error) error {
	if m.Writer == nil || m.Leader != nil && !m.Leader.Leading() {
		return nil
	}
	cond := reachable(ts.Generation, count, listErr)
	if statusCurrent(ts, cond, count) {
		return nil
	}
	cond.LastTransitionTime = metav1.NewTime(m.now().UTC().Truncate(time.Second))
	if old := meta.FindStatusCondition(ts.Status.Conditions, cond.Type); old != nil && old.Status == cond.Status {
		cond.LastTransitionTime = old.LastTransitionTime
	}
	status := mcpapply.ToolsetStatus().
		WithConditions(ssa.Conditions(cond)...).
		WithToolCount(count).
		WithObservedGeneration(ts.Generation)
	err := ssa.ApplyStatus(ctx, m.Writer, mcpapply.Toolset(ts.Name).WithStatus(status), FieldManager)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

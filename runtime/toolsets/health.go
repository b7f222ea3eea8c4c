package toolsets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// Problem says why a named toolset (nil when it does not exist) does not
// answer, from its status; "" when it does.
func Problem(name string, ts *mcpv1alpha1.Toolset) (reason, message string) {
	if ts == nil {
		return mcpv1alpha1.HandleReasonToolsetNotFound, fmt.Sprintf("toolset %s does not exist", name)
	}
	reachable := meta.FindStatusCondition(ts.Status.Conditions, mcpv1alpha1.ToolsetConditionReachable)
	switch {
	case reachable == nil:
		return mcpv1alpha1.HandleReasonToolsetPending, fmt.Sprintf("toolset %s has not been checked yet", name)
	case reachable.Status != metav1.ConditionTrue:
		return mcpv1alpha1.HandleReasonToolsetUnreachable, fmt.Sprintf("toolset %s: %s", name, reachable.Message)
	}
	return "", ""
}

// Health returns how many tools a handle offers now, and an error naming
// every toolset of the handle that does not answer: the bootstrap flow's
// smoke check of tool discovery.
func (m *Manager) Health(ctx context.Context, h *mcpv1alpha1.Handle) (int, error) {
	var problems []string
	for _, ref := range h.Spec.Toolsets {
		ts := &mcpv1alpha1.Toolset{}
		if err := m.Reader.Get(ctx, types.NamespacedName{Name: ref.Name}, ts); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return 0, err
			}
			ts = nil
		}
		if reason, message := Problem(ref.Name, ts); reason != "" {
			problems = append(problems, message)
		}
	}
	count := m.count(h)
	if len(problems) > 0 {
		return count, errors.New(strings.Join(problems, "; "))
	}
	return count, nil
}

package grants

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// DiscoveryInterval is how often a successful tool discovery through a
// grant is recorded again when nothing else changed: often enough for
// `kubectl get connections` to show live connectors, rarely enough that
// tools/list does not turn into apiserver writes.
const DiscoveryInterval = 10 * time.Minute

// errUnchanged stops an update that would write nothing new.
var errUnchanged = errors.New("unchanged")

// NeedsDiscoveryRecord reports whether a discovery result differs from what
// the grant (as read from a cache) already records, so callers can skip the
// write without a read of the apiserver.
func NeedsDiscoveryRecord(conn *mcpv1alpha1.Connection, toolCount int, discoveryErr error, now time.Time) bool {
	b := conn.Status.Bootstrap
	if discoveryErr != nil {
		return b == nil || b.LastError != truncate(discoveryErr.Error(), 1024)
	}
	if b == nil || b.ToolCount == nil || int(*b.ToolCount) != toolCount || b.LastError != "" || b.LastDiscoveryTime == nil {
		return true
	}
	return now.Sub(b.LastDiscoveryTime.Time) >= DiscoveryInterval
}

// RecordDiscovery records the result of listing a handle's tools through the
// grant, and sets its Ready condition. A grant that is gone is not an error:
// it was revoked meanwhile.
func (s *Store) RecordDiscovery(ctx context.Context, name string, toolCount int, discoveryErr error) error {
	now := s.Now()
	_, _, err := s.updateStatus(ctx, name, func(conn *mcpv1alpha1.Connection) (string, error) {
		if !NeedsDiscoveryRecord(conn, toolCount, discoveryErr, now) {
			return "", errUnchanged
		}
		b := conn.Status.Bootstrap
		if b == nil {
			b = &mcpv1alpha1.ConnectionBootstrap{}
			conn.Status.Bootstrap = b
		}
		cond := metav1.Condition{Type: mcpv1alpha1.ConnectionConditionReady, ObservedGeneration: conn.Generation}
		if discoveryErr != nil {
			b.LastError = truncate(discoveryErr.Error(), 1024)
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, mcpv1alpha1.ConnectionReasonDiscoveryFailed, b.LastError
		} else {
			b.LastError = ""
			b.ToolCount = ptr.To(int32(toolCount))
			b.LastDiscoveryTime = &metav1.Time{Time: now}
			cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, mcpv1alpha1.ConnectionReasonToolsDiscovered, "the connector listed the handle's tools"
		}
		meta.SetStatusCondition(&conn.Status.Conditions, cond)
		result := mcpv1alpha1.BootstrapSucceeded
		if discoveryErr != nil {
			result = mcpv1alpha1.BootstrapFailed
		}
		setStep(conn, mcpv1alpha1.ConnectionBootstrapStep{Name: mcpv1alpha1.BootstrapStepToolsDiscovered, Result: result,
			Time: &metav1.Time{Time: now}, Message: cond.Message})
		return "", nil
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Bootstrapped reports whether the grant's bootstrap check has succeeded:
// requests through it skip the check from then on.
func Bootstrapped(conn *mcpv1alpha1.Connection) bool {
	st := step(conn, mcpv1alpha1.BootstrapStepToolsChecked)
	return st != nil && st.Result == mcpv1alpha1.BootstrapSucceeded
}

// RecordStep records the result of a bootstrap step on the grant unless it
// records the same result and message already. A grant that is gone is not
// an error.
func (s *Store) RecordStep(ctx context.Context, name string, st mcpv1alpha1.ConnectionBootstrapStep) error {
	if st.Time == nil {
		st.Time = &metav1.Time{Time: s.Now()}
	}
	st.Message = truncate(st.Message, 1024)
	_, _, err := s.updateStatus(ctx, name, func(conn *mcpv1alpha1.Connection) (string, error) {
		if old := step(conn, st.Name); old != nil && old.Result == st.Result && old.Message == st.Message {
			return "", errUnchanged
		}
		setStep(conn, st)
		return "", nil
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func step(conn *mcpv1alpha1.Connection, name mcpv1alpha1.BootstrapStep) *mcpv1alpha1.ConnectionBootstrapStep {
	if conn.Status.Bootstrap == nil {
		return nil
	}
	for i := range conn.Status.Bootstrap.Steps {
		if conn.Status.Bootstrap.Steps[i].Name == name {
			return &conn.Status.Bootstrap.Steps[i]
		}
	}
	return nil
}

// setStep replaces the step's entry, keeping the steps in flow order.
func setStep(conn *mcpv1alpha1.Connection, st mcpv1alpha1.ConnectionBootstrapStep) {
	if conn.Status.Bootstrap == nil {
		conn.Status.Bootstrap = &mcpv1alpha1.ConnectionBootstrap{}
	}
	var steps []mcpv1alpha1.ConnectionBootstrapStep
	for _, name := range []mcpv1alpha1.BootstrapStep{mcpv1alpha1.BootstrapStepAuthorized, mcpv1alpha1.BootstrapStepToolsChecked, mcpv1alpha1.BootstrapStepToolsDiscovered} {
		switch old := step(conn, name); {
		case name == st.Name:
			steps = append(steps, st)
		case old != nil:
			steps = append(steps, *old)
		}
	}
	conn.Status.Bootstrap.Steps = steps
}

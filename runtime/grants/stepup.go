package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// ErrStepUp refuses the refresh of a grant that a request found lacking
// scopes: the client is to authorize again, which a refresh cannot replace
// (RFC 6749 §6 lets a refresh narrow scopes, never add any).
var ErrStepUp = errors.New("the connector needs scopes this grant lacks; authorize again to approve")

// stepUpRecordInterval is how often a step-up already pending is recorded
// again, extending its window: refusals of the same scopes in between write
// nothing.
const stepUpRecordInterval = time.Minute

// NeedsStepUpRecord reports whether a refusal for lacking the scopes is not
// yet recorded on the grant (as read from a cache), so callers skip the
// write without a read of the apiserver.
func NeedsStepUpRecord(conn *mcpv1alpha1.Connection, scopes []mcpv1alpha1.Scope, now time.Time) bool {
	su := conn.Status.StepUp
	if su == nil || su.RequestedAt == nil || now.Sub(su.RequestedAt.Time) >= stepUpRecordInterval {
		return true
	}
	for _, s := range scopes {
		if !slices.Contains(su.Scopes, s) {
			return true
		}
	}
	return false
}

// RequestStepUp records that a request through the grant needed the scopes
// and was refused: the grant's refresh is refused for StepUpWindow, so the
// client authorizes again. A grant that is gone is not an error.
func (s *Store) RequestStepUp(ctx context.Context, name string, scopes []mcpv1alpha1.Scope) error {
	now := s.Now()
	_, _, err := s.updateStatus(ctx, name, func(conn *mcpv1alpha1.Connection) (string, error) {
		if !NeedsStepUpRecord(conn, scopes, now) {
			return "", errUnchanged
		}
		su := conn.Status.StepUp
		if su == nil || su.RequestedAt == nil || now.Sub(su.RequestedAt.Time) >= mcpv1alpha1.StepUpWindow {
			su = &mcpv1alpha1.ConnectionStepUp{}
		}
		for _, sc := range scopes {
			if !slices.Contains(su.Scopes, sc) {
				su.Scopes = append(su.Scopes, sc)
			}
		}
		su.RequestedAt = &metav1.Time{Time: now}
		conn.Status.StepUp = su
		return "", nil
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// stepUpPending returns ErrStepUp, naming the scopes, while the grant's
// step-up window is open.
func stepUpPending(conn *mcpv1alpha1.Connection, now time.Time) error {
	su := conn.Status.StepUp
	if su == nil || su.RequestedAt == nil || now.Sub(su.RequestedAt.Time) >= mcpv1alpha1.StepUpWindow {
		return nil
	}
	names := make([]string, len(su.Scopes))
	for i, sc := range su.Scopes {
		names[i] = string(sc)
	}
	return fmt.Errorf("%w (%s)", ErrStepUp, strings.Join(names, " "))
}

package grants

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// A request refused for lacking scopes makes the grant's next refresh fail
// with invalid_grant (ErrStepUp naming the scopes) for StepUpWindow, so a
// client that refreshes first goes on to authorize again; the refresh token
// itself is not spent, and works again once the window has passed.
func TestStepUpRefusesRefreshForItsWindow(t *testing.T) {
	now := time.Now()
	s, c := newStore(t, &now)
	ctx := context.Background()
	conn, refresh, err := s.ExchangeCode(ctx, authorize(t, s, c), c.Name, callback, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestStepUp(ctx, conn.Name, []mcpv1alpha1.Scope{"links.write"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Refresh(ctx, refresh, c.Name)
	if !errors.Is(err, ErrStepUp) || !strings.Contains(err.Error(), "links.write") {
		t.Fatalf("refresh during the step-up window: %v, want ErrStepUp naming links.write", err)
	}
	if !grantExists(t, conn.Name) {
		t.Fatal("a step-up revoked the grant")
	}

	// The same refusal again within a minute writes nothing new.
	var before mcpv1alpha1.Connection
	if err := env.Client.Get(ctx, types.NamespacedName{Name: conn.Name}, &before); err != nil {
		t.Fatal(err)
	}
	if NeedsStepUpRecord(&before, []mcpv1alpha1.Scope{"links.write"}, now.Add(30*time.Second)) {
		t.Error("a repeated refusal would be written again")
	}
	if !NeedsStepUpRecord(&before, []mcpv1alpha1.Scope{"links.write", "pages.read"}, now.Add(30*time.Second)) {
		t.Error("a refusal for another scope would not be recorded")
	}

	now = now.Add(mcpv1alpha1.StepUpWindow)
	if _, _, err := s.Refresh(ctx, refresh, c.Name); err != nil {
		t.Fatalf("refresh after the window: %v", err)
	}
	// A step-up of a revoked grant is no error.
	if err := s.Revoke(ctx, conn.Name); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestStepUp(ctx, conn.Name, []mcpv1alpha1.Scope{"links.write"}); err != nil {
		t.Errorf("step-up of a revoked grant: %v", err)
	}
}

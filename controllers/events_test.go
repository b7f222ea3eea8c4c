package controllers_test

import (
	"fmt"
	"testing"
	"time"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// waitEvent waits for the operator's event about handle with reason and
// returns its type.
func waitEvent(t *testing.T, handle, reason string) string {
	t.Helper()
	var typ string
	waitfor.Eventually(t, 10*time.Second, "event "+reason+" on "+handle, func() error {
		var l eventsv1.EventList
		if err := env.Client.List(ctx, &l); err != nil {
			return err
		}
		for _, e := range l.Items {
			if e.Regarding.Kind == "Handle" && e.Regarding.Name == handle && e.Reason == reason {
				typ = e.Type
				return nil
			}
		}
		return fmt.Errorf("none among %d events", len(l.Items))
	})
	return typ
}

// TestEventSeverities checks that Ready turning False records a Normal event
// while a toolset is still being checked (every new handle passes through
// that) and a Warning once the toolset does not answer: the severities
// declared with the reasons in api/v1alpha1.
func TestEventSeverities(t *testing.T) {
	// Its own certificate (perHandle), so the shared platform one stays as
	// the other tests expect it.
	startOperator(t, platformConfig(t, func(c *platform.Config) { c.TLS.Mode = platform.TLSModePerHandle }))
	createHandle(t, "eventful", mcpv1alpha1.HandleSpec{})
	acceptRoute(t, waitRoute(t, "handle-eventful"), metav1.ConditionTrue, "Accepted", "accepted")
	acceptRoute(t, waitRoute(t, "handle-eventful-compat"), metav1.ConditionTrue, "Accepted", "accepted")
	readyCertificate(t, "handle-eventful", cmmeta.ConditionTrue, "Ready", "Certificate is up to date and has not expired")

	for _, c := range []struct{ reason, want string }{
		{mcpv1alpha1.HandleReasonToolsetPending, corev1.EventTypeNormal},
		{mcpv1alpha1.HandleReasonToolsetUnreachable, corev1.EventTypeWarning},
		{mcpv1alpha1.HandleReasonSuspended, corev1.EventTypeNormal},
	} {
		reportServing(t, "eventful", metav1.ConditionFalse, c.reason)
		waitCondition(t, "eventful", mcpv1alpha1.HandleConditionReady, metav1.ConditionFalse, c.reason)
		if got := waitEvent(t, "eventful", c.reason); got != c.want {
			t.Errorf("Ready=False/%s recorded a %s event, want %s", c.reason, got, c.want)
		}
	}
}

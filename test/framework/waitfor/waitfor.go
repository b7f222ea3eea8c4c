// Package waitfor is the one poll loop of the tests and the harness, on
// k8s.io/apimachinery's wait: a check is retried until it returns nil, and a
// timeout reports the check's last error rather than only "timed out".
package waitfor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// interval grows with the timeout so a one-second wait still samples often
// and a wait of minutes (a pod, a rollout) does not load a small machine.
func interval(timeout time.Duration) time.Duration {
	return min(max(timeout/200, 20*time.Millisecond), 500*time.Millisecond)
}

// Poll calls check at once and then regularly until it returns nil, ctx
// ends or timeout passes; the error names what and wraps check's last error.
func Poll(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	return PollEvery(ctx, interval(timeout), timeout, what, check)
}

// PollEvery is Poll at a given interval, for a wait whose duration is the
// figure a test reports.
func PollEvery(ctx context.Context, every, timeout time.Duration, what string, check func() error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, every, timeout, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err == nil {
		return nil
	}
	if last == nil {
		last = err
	}
	return fmt.Errorf("%s: not after %s: %w", what, timeout, last)
}

// Eventually is Poll for a test: it fails t with check's last error, and
// returns how long check took to pass.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	if err := Poll(context.Background(), timeout, what, check); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

package keysecret

import (
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// NotAfterAnnotation says when the current key of a keys Secret should be
// replaced (RFC 3339): the administrator's rotation policy, set with the
// current-key annotation. Keys do not expire by themselves; the runtime
// exports this time (mcp_runtime_signing_key_not_after_timestamp_seconds)
// so an alert can fire before it passes.
const NotAfterAnnotation = "mcp.10x.in/current-key-not-after"

// Expiry follows a keys Secret's NotAfterAnnotation; Observe is an apply
// function for Watch.
type Expiry struct {
	notAfter atomic.Pointer[time.Time]
}

// Observe records the Secret's annotation; an unparsable one counts as
// absent and is reported.
func (e *Expiry) Observe(secret *corev1.Secret) error {
	v, ok := secret.Annotations[NotAfterAnnotation]
	if !ok {
		e.notAfter.Store(nil)
		return nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		e.notAfter.Store(nil)
		return fmt.Errorf("the keys Secret %s/%s: annotation %s: %w", secret.Namespace, secret.Name, NotAfterAnnotation, err)
	}
	e.notAfter.Store(&t)
	return nil
}

// NotAfter returns the time last observed, false when there is none.
func (e *Expiry) NotAfter() (time.Time, bool) {
	if t := e.notAfter.Load(); t != nil {
		return *t, true
	}
	return time.Time{}, false
}

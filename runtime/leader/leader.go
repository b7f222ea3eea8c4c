// Package leader elects the one runtime replica that writes the status the
// runtime reports (each Toolset's Reachable condition and each Handle's
// Serving condition). Replicas can see an upstream differently; if each
// wrote what it saw, the conditions, and the operator's Ready and its events
// with them, would flip back and forth. Every replica keeps serving and
// observing; only the holder of a Lease writes.
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaseName is the Lease, in the platform namespace, that the status writer
// holds.
const LeaseName = "mcp-handle-runtime-status"

// The defaults of controller-runtime's leader election.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Elector campaigns for the Lease until its context ends, again after each
// loss, and says whether this replica holds it. Set the fields, register
// OnLead callbacks, then Run.
type Elector struct {
	// Config reaches the apiserver.
	Config *rest.Config
	// Namespace and Name of the Lease; Name defaults to LeaseName.
	Namespace, Name string
	// Identity names this replica in the Lease; the host name and a random
	// suffix when empty.
	Identity string
	// The timings of client-go's leader election; the Default* when 0.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Log receives leadership changes; slog.Default() when nil.
	Log *slog.Logger

	leading atomic.Bool
	mu      sync.Mutex
	onLead  []func(context.Context)
}

// Leading reports whether this replica holds the Lease now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// OnLead registers f to run (in its own goroutine) each time this replica
// becomes the leader, with a context that ends when it stops leading: the
// place to write what it has observed while it was not writing.
func (e *Elector) OnLead(f func(context.Context)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onLead = append(e.onLead, f)
}

// Run campaigns until ctx ends, then releases the Lease if it holds it, so
// another replica takes over within its retry period.
func (e *Elector) Run(ctx context.Context) error {
	lock, err := e.lock()
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   or(e.LeaseDuration, DefaultLeaseDuration),
			RenewDeadline:   or(e.RenewDeadline, DefaultRenewDeadline),
			RetryPeriod:     or(e.RetryPeriod, DefaultRetryPeriod),
			ReleaseOnCancel: true,
			Name:            lock.LeaseMeta.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: e.started,
				OnStoppedLeading: func() {
					e.leading.Store(false)
					e.log().Info("stopped writing status", "lease", lock.LeaseMeta.Name, "identity", lock.Identity())
				},
			},
		})
		if err != nil {
			return err
		}
		// Run returns when leadership is lost; campaign again.
		le.Run(ctx)
	}
	return nil
}

func (e *Elector) started(ctx context.Context) {
	e.leading.Store(true)
	e.log().Info("writing status", "lease", e.name(), "identity", e.Identity)
	e.mu.Lock()
	fs := append([]func(context.Context){}, e.onLead...)
	e.mu.Unlock()
	for _, f := range fs {
		go f(ctx)
	}
}

func (e *Elector) lock() (*resourcelock.LeaseLock, error) {
	if e.Identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		e.Identity = host + "_" + hex.EncodeToString(suffix)
	}
	c, err := coordinationv1.NewForConfig(rest.CopyConfig(e.Config))
	if err != nil {
		return nil, fmt.Errorf("failed to create the Lease client: %w", err)
	}
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.Namespace, Name: e.name()},
		Client:     c,
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
	}, nil
}

func (e *Elector) name() string { return or(e.Name, LeaseName) }

func (e *Elector) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

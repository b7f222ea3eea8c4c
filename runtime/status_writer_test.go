package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/leader"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// statusReplica is one in-process runtime replica of the status test: its
// own informer cache, tools and Serving reporter, started as cmd/runtime
// starts them, campaigning for the status Lease.
type statusReplica struct {
	elector *leader.Elector
	// requests counts the requests its tools sent upstream: refresh rounds.
	requests atomic.Int64
	stop     context.CancelFunc
}

// countingTransport counts requests before passing them on.
type countingTransport struct {
	n    *atomic.Int64
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// startStatusReplica starts a replica; refusedAt, when set, is where its
// every upstream connection goes instead (a closed port: connection refused).
func startStatusReplica(t *testing.T, cfg *platform.Config, name, refusedAt string) *statusReplica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &statusReplica{stop: cancel}
	informers, err := cache.New(env.Config, cache.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	minter, err := upstream.LoadMinter(ctx, env.Client, cfg.Namespace, upstream.DefaultSecretName, cfg.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	mcp := runtime.NewMCP(testruntime.NewServer(t, cfg, informers, env.Client, "mcp-users"), informers, env.Client, minter, slog.Default(), "test")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if refusedAt != "" {
		transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, refusedAt)
		}
	}
	mcp.Tools.HTTPClient = &http.Client{Transport: countingTransport{n: &r.requests, next: transport}}
	mcp.Tools.RefreshInterval, mcp.Tools.RetryInterval = 100*time.Millisecond, 50*time.Millisecond
	r.elector = &leader.Elector{Config: env.Config, Namespace: cfg.Namespace, Name: "status-writer-test", Identity: name,
		LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 200 * time.Millisecond}
	if err := mcp.Start(ctx, informers, env.Client, r.elector, slog.Default()); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestOneStatusWriter runs two replicas whose upstream answers one and
// refuses the other: the Toolset's Reachable and the Handle's Serving
// condition say what the Lease holder sees, stay put over many refresh
// rounds of both, and follow the other replica once it takes the Lease.
func TestOneStatusWriter(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	cfg, err := platform.Load("../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	links := testruntime.LinksUpstream(t, c, cfg.Namespace, cfg.Issuer)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAt := closed.Addr().String()
	_ = closed.Close()
	for _, o := range []client.Object{
		&mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: "one-writer"}, Spec: mcpv1alpha1.ToolsetSpec{URL: links.URL + "/mcp"}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "one-writer"}, Spec: mcpv1alpha1.HandleSpec{
			Members:  []mcpv1alpha1.HandleMember{{User: "alice@example.com"}},
			Toolsets: []mcpv1alpha1.ToolsetReference{{Name: "one-writer"}}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	ts, h := &mcpv1alpha1.Toolset{}, &mcpv1alpha1.Handle{}
	// conditions reads both objects and says whether Reachable and Serving
	// have the given reasons.
	conditions := func(reachable, serving string) error {
		if err := c.Get(ctx, types.NamespacedName{Name: "one-writer"}, ts); err != nil {
			return err
		}
		if err := c.Get(ctx, types.NamespacedName{Name: "one-writer"}, h); err != nil {
			return err
		}
		r := meta.FindStatusCondition(ts.Status.Conditions, mcpv1alpha1.ToolsetConditionReachable)
		s := meta.FindStatusCondition(h.Status.Conditions, mcpv1alpha1.HandleConditionServing)
		if r == nil || s == nil || r.Reason != reachable || s.Reason != serving {
			return fmt.Errorf("Reachable %+v, Serving %+v; want reasons %s and %s", r, s, reachable, serving)
		}
		return nil
	}
	// stable waits for rounds more requests upstream from each replica and
	// fails when either object's resourceVersion moved meanwhile.
	stable := func(rounds int64, replicas ...*statusReplica) {
		t.Helper()
		toolsetVersion, handleVersion := ts.ResourceVersion, h.ResourceVersion
		for _, r := range replicas {
			until := r.requests.Load() + rounds
			waitfor.Eventually(t, 30*time.Second, "refresh rounds", func() error {
				if n := r.requests.Load(); n < until {
					return fmt.Errorf("%d requests of %d", n, until)
				}
				return nil
			})
		}
		check := &mcpv1alpha1.Toolset{}
		if err := c.Get(ctx, types.NamespacedName{Name: "one-writer"}, check); err != nil {
			t.Fatal(err)
		}
		checkHandle := &mcpv1alpha1.Handle{}
		if err := c.Get(ctx, types.NamespacedName{Name: "one-writer"}, checkHandle); err != nil {
			t.Fatal(err)
		}
		if check.ResourceVersion != toolsetVersion || checkHandle.ResourceVersion != handleVersion {
			t.Errorf("status rewritten while the replicas disagree: Toolset %s -> %s (%+v), Handle %s -> %s (%+v)",
				toolsetVersion, check.ResourceVersion, check.Status.Conditions, handleVersion, checkHandle.ResourceVersion, checkHandle.Status.Conditions)
		}
	}

	answered := startStatusReplica(t, cfg, "answered", "")
	waitfor.Eventually(t, 30*time.Second, "the first replica leads", func() error {
		if !answered.elector.Leading() {
			return fmt.Errorf("%s does not hold the Lease", answered.elector.Identity)
		}
		return nil
	})
	waitfor.Eventually(t, 30*time.Second, "the leader's view", func() error { return conditions(mcpv1alpha1.ToolsetReasonToolsListed, mcpv1alpha1.HandleReasonServing) })

	refused := startStatusReplica(t, cfg, "refused", refusedAt)
	stable(10, answered, refused)
	if refused.elector.Leading() {
		t.Fatal("both replicas lead")
	}

	// The leader goes away: the other takes the Lease and writes what it
	// sees without waiting for a change.
	answered.stop()
	waitfor.Eventually(t, 30*time.Second, "the second replica's view", func() error {
		return conditions(mcpv1alpha1.ToolsetReasonUpstreamError, mcpv1alpha1.HandleReasonToolsetUnreachable)
	})
	if !refused.elector.Leading() {
		t.Error("the status changed, but the second replica does not lead")
	}
	stable(10, refused)
}

package operator_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testoperator"
)

const (
	// leaseName is cmd/manager's LeaderElectionID.
	leaseName = "mcp-handle-operator.mcp.10x.in"
	// retryPeriod is how often a candidate tries the Lease: controller-runtime's
	// default, which cmd/manager keeps; client-go adds up to 1.2 times it as
	// jitter.
	retryPeriod = 2 * time.Second
)

// TestLeaderElectionOneWriter runs two replicas with leader election, each
// as its own apiserver user, and reads the apiserver's audit log: while both
// run, every write (routes, certificates, ListenerSets, handle status,
// events, the Lease) comes from one of them. Killed with SIGKILL, the leader
// is replaced once its lease has expired, and from then on every write comes
// from the other replica, which converges a handle created after the kill.
func TestLeaderElectionOneWriter(t *testing.T) {
	t.Parallel()
	const handles = 20
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	cl := startCluster(ctx, t, controlplane.WithWriteAuditLog(auditLog))
	ns := cl.cfg.Namespace
	if _, err := testoperator.CreateAll(ctx, cl.c, 4, handles, func(i int) client.Object { return newHandle(i + 1) }); err != nil {
		t.Fatal(err)
	}

	users := []string{"operator-a", "operator-b"}
	ops := map[string]*proc.Process{}
	for _, u := range users {
		ops[u] = cl.startOperator(t, u, cl.kubeconfig(t, u), "--leader-elect", "--leader-election-namespace="+ns)
	}
	waitFor(ctx, t, 2*time.Minute, slices.Collect(maps.Values(ops)), converged(cl, handles, handles))

	// Both replicas run; the one that renews the Lease must be the only one
	// writing anything.
	before := auditWrites(t, auditLog, time.Time{}, time.Now(), users...)
	leader := onlyWriter(t, before)
	follower := users[0]
	if leader == follower {
		follower = users[1]
	}
	for _, resource := range []string{"httproutes", "certificates", "listenersets", "handles/status", "events", "leases"} {
		if before[leader][resource] == 0 {
			t.Errorf("no write of %s by the leader %s in the audit log: %v", resource, leader, before[leader])
		}
	}
	t.Logf("both running: %s wrote %v; %s wrote nothing", leader, before[leader], follower)

	lease := &coordinationv1.Lease{}
	if err := cl.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: leaseName}, lease); err != nil {
		t.Fatal(err)
	}
	ops[leader].Kill()
	killed := time.Now()
	// Read again: the leader may have renewed between the Get and the kill.
	if err := cl.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: leaseName}, lease); err != nil {
		t.Fatal(err)
	}
	oldHolder, lastRenew := *lease.Spec.HolderIdentity, lease.Spec.RenewTime.Time
	duration := time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	if err := cl.c.Create(ctx, newHandle(handles+1)); err != nil {
		t.Fatal(err)
	}

	running := []*proc.Process{ops[follower]}
	waitFor(ctx, t, duration+time.Minute, running, func(ctx context.Context) error {
		if err := cl.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: leaseName}, lease); err != nil {
			return err
		}
		if *lease.Spec.HolderIdentity == oldHolder {
			return fmt.Errorf("the Lease is still held by the killed leader %s", oldHolder)
		}
		return nil
	})
	// The candidate counts the lease from when it saw the last renewal, and
	// tries every retry period plus up to 1.2 times as much jitter: it must
	// not take the Lease before the lease duration has passed, and takes it
	// at most two tries later (plus the requests' time on a busy machine).
	takeover := lease.Spec.AcquireTime.Sub(lastRenew)
	if latest := duration + 2*retryPeriod*22/10 + 2*time.Second; takeover < duration || takeover > latest {
		t.Errorf("%s took the Lease %.1fs after the last renewal, want between the lease duration %s and %s",
			follower, takeover.Seconds(), duration, latest)
	}
	newHandleConverged := time.Since(killed) + waitFor(ctx, t, time.Minute, running, converged(cl, handles+1, handles+1))

	after := auditWrites(t, auditLog, killed, time.Now(), users...)
	if w := onlyWriter(t, after); w != follower {
		t.Errorf("after the kill %s wrote, want %s", w, follower)
	}
	for _, resource := range []string{"httproutes", "certificates", "handles/status", "leases"} {
		if after[follower][resource] == 0 {
			t.Errorf("no write of %s by the new leader %s in the audit log: %v", resource, follower, after[follower])
		}
	}
	t.Logf("SIGKILL %s: %s took the Lease %.1fs after the kill (%.1fs after the last renewal; lease %s), and the handle created after the kill converged %.1fs after it; since the kill %s wrote %v",
		leader, follower, lease.Spec.AcquireTime.Sub(killed).Seconds(), takeover.Seconds(), duration, newHandleConverged.Seconds(), follower, after[follower])
}

// onlyWriter returns the one user who wrote, and fails the test unless
// exactly one did.
func onlyWriter(t *testing.T, writes map[string]map[string]int) string {
	t.Helper()
	var writers []string
	for user, w := range writes {
		if len(w) > 0 {
			writers = append(writers, user)
		}
	}
	if len(writers) != 1 {
		t.Fatalf("writers %v, want exactly one: %v", writers, writes)
	}
	return writers[0]
}

// auditEvent is the part of an audit.k8s.io/v1 Event the test reads.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// auditWrites counts, for each of users, the write requests the apiserver
// received in [from, to) by resource ("handles/status" for a subresource).
// A refused write of the Lease is not counted: both candidates may race to
// create it, and only one can.
func auditWrites(t *testing.T, path string, from, to time.Time, users ...string) map[string]map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	writes := map[string]map[string]int{}
	for _, u := range users {
		writes[u] = map[string]int{}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("failed to parse the audit log line %q: %v", sc.Text(), err)
		}
		w, ok := writes[e.User.Username]
		if !ok || e.ObjectRef == nil || e.RequestReceivedTimestamp.Before(from) || !e.RequestReceivedTimestamp.Before(to) {
			continue
		}
		if e.ObjectRef.Resource == "leases" && (e.ResponseStatus == nil || e.ResponseStatus.Code >= 300) {
			continue
		}
		w[strings.TrimSuffix(e.ObjectRef.Resource+"/"+e.ObjectRef.Subresource, "/")]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return writes
}

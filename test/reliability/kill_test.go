package reliability

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
)

// Two replicas behind the round-robin Service under a steady mixed load;
// one is killed with SIGKILL and restarted. Only the requests in flight on
// the killed process may fail; no grant is lost and no client has to
// authorize again: each one's tokens and session still work at the end.
func TestReplicaKilledUnderLoad(t *testing.T) {
	f := startFleet(t, 2)
	// A connection per request, as the Gateway opens to the Service: every
	// request after the kill is a new connection the Service gives to a
	// live replica.
	cs := clients(t, f, 8, false)
	rec := &loadgen.Recorder{}
	stop := loadgen.Start(cs, rec, loadgen.Mix{Lists: 1, Calls: 2, RefreshEvery: 2, AuthorizeEvery: 5})

	start := time.Now()
	time.Sleep(4 * time.Second)
	killAt := time.Now()
	f.Kill(0)
	killed := time.Now()
	time.Sleep(2 * time.Second)
	restartAt := time.Now()
	if err := f.Restart(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	time.Sleep(4 * time.Second)
	stop()
	end := time.Now()
	t.Logf("killed replica 1 at %.1f s, restarted at %.1f s (ready after %.2f s)", killAt.Sub(start).Seconds(),
		restartAt.Sub(start).Seconds(), restarted.Sub(restartAt).Seconds())

	results := rec.Results()
	logStats(t, "before the kill", results, start, killAt)
	logStats(t, "one replica", results, killed, restartAt)
	logStats(t, "after the restart", results, restarted, end)
	all := logStats(t, "whole run", results, start, end)
	inFlight := 0
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		// Only a request whose connection the kill cut may fail; a replica
		// that answers wrongly (say "tool not found" while it warms up)
		// fails the test whenever it happens.
		cut := r.Start.Before(killed) && r.End.After(killAt)
		if cut && loadgen.Lost(r.Err) {
			inFlight++
			continue
		}
		t.Errorf("%s of client %d failed at %.3f s (in flight at the kill: %v), cause %q: %v", r.Op, r.Client,
			r.Start.Sub(start).Seconds(), cut, loadgen.Cause(r.Err), r.Err)
	}
	t.Logf("%d requests failed, all in flight at the kill and cut by it", inFlight)
	for _, op := range []loadgen.Op{loadgen.OpAuthorize, loadgen.OpRefresh, loadgen.OpList, loadgen.OpCall} {
		if all[op] == nil || all[op].Count-all[op].Errors == 0 {
			t.Errorf("no successful %s in the run", op)
		}
	}

	// Every grant a client obtained still exists, and every client's
	// latest tokens and session work on both replicas.
	grants := 0
	for _, c := range cs {
		for _, name := range c.Grants() {
			grants++
			if err := env.Client.Get(context.Background(), types.NamespacedName{Name: name}, &mcpv1alpha1.Connection{}); err != nil {
				if apierrors.IsNotFound(err) {
					t.Errorf("grant %s was lost", name)
					continue
				}
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d grants obtained, all still there", grants)
	for i, c := range cs {
		for range 2 {
			if _, err := c.ListTools(context.Background()); err != nil {
				t.Errorf("client %d after the run: %v", i, err)
			}
		}
		if err := c.Refresh(context.Background()); err != nil {
			t.Errorf("client %d refresh after the run: %v", i, err)
		}
	}
}

package reliability

import (
	"testing"
	"time"

	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
)

// outage is how long the apiserver is away: the 30 seconds.
const outage = 30 * time.Second

// The apiserver stops for 30 s under a steady mixed load (the replicas'
// connections to it are reset and new ones refused). Tools keep working
// from the informer caches with the tokens the clients hold; every
// authorization and refresh fails fast with temporarily_unavailable; once
// the apiserver is back everything works again without a restart.
func TestAPIServerStoppedUnderLoad(t *testing.T) {
	f := startFleet(t, 2)
	cs := clients(t, f, 6, false)
	rec := &loadgen.Recorder{}
	stop := loadgen.Start(cs, rec, loadgen.Mix{Lists: 1, Calls: 2, RefreshEvery: 2, AuthorizeEvery: 3})

	start := time.Now()
	time.Sleep(3 * time.Second)
	cut := time.Now()
	f.APIServer.Cut()
	time.Sleep(outage)
	restored := time.Now()
	if err := f.APIServer.Restore(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	stop()
	end := time.Now()

	results := rec.Results()
	logStats(t, "before", results, start, cut)
	during := logStats(t, "apiserver stopped", results, cut, restored)
	logStats(t, "after", results, restored, end)

	// Recovery: the first authorization and refresh that succeeded after the
	// restore; everything started later than that succeeds.
	recovered := map[loadgen.Op]time.Time{}
	for _, r := range results {
		if r.Start.Before(restored) || r.Err != nil {
			continue
		}
		if first, ok := recovered[r.Op]; !ok || r.Start.Before(first) {
			recovered[r.Op] = r.Start
		}
	}
	last := restored
	for _, op := range []loadgen.Op{loadgen.OpAuthorize, loadgen.OpRefresh} {
		at, ok := recovered[op]
		if !ok {
			t.Fatalf("no %s succeeded after the apiserver came back", op)
		}
		t.Logf("first successful %s %.2f s after the apiserver came back", op, at.Sub(restored).Seconds())
		if at.After(last) {
			last = at
		}
	}

	var slowest time.Duration
	for _, r := range results {
		inOutage := r.Start.After(cut) && r.Start.Before(restored)
		switch {
		case r.Err == nil:
		case inOutage && (r.Op == loadgen.OpAuthorize || r.Op == loadgen.OpRefresh):
			if code := loadgen.Code(r.Err); code != "temporarily_unavailable" {
				t.Errorf("%s during the outage failed with cause %q, want temporarily_unavailable: %v", r.Op, loadgen.Cause(r.Err), r.Err)
			}
			slowest = max(slowest, r.End.Sub(r.Start))
		case r.Start.Before(cut) && r.End.After(cut) && (loadgen.Lost(r.Err) || loadgen.Code(r.Err) == "temporarily_unavailable"):
			// In flight when the replicas' connections to the apiserver
			// were reset.
		case r.Start.After(restored) && r.Start.Before(last) && loadgen.Code(r.Err) == "temporarily_unavailable":
			// Before the replicas' first successful write after the restore.
		default:
			t.Errorf("%s of client %d at %.2f s failed, cause %q: %v", r.Op, r.Client, r.Start.Sub(start).Seconds(), loadgen.Cause(r.Err), r.Err)
		}
	}
	for _, op := range []loadgen.Op{loadgen.OpList, loadgen.OpCall} {
		if s := during[op]; s == nil || s.Count == 0 || s.Errors > 0 {
			t.Errorf("%s during the outage: %v", op, s)
		}
	}
	for _, op := range []loadgen.Op{loadgen.OpAuthorize, loadgen.OpRefresh} {
		if s := during[op]; s == nil || s.Errors == 0 {
			t.Errorf("no %s was refused during the outage: %v", op, s)
		}
	}
	t.Logf("slowest refused authorization or refresh during the outage: %s", slowest.Round(time.Millisecond))
	// Refused connections fail at once; waiting for the direct client's 5 s
	// timeout would be a hang in disguise.
	if slowest > 3*time.Second {
		t.Errorf("a refusal took %s: not fast", slowest)
	}
	for i, r := range f.Replicas {
		select {
		case <-r.Exited():
			t.Errorf("replica %d exited", i+1)
		default:
		}
	}
}

// Package reliability runs the runtime's fault tests of issue 8: runtime
// replicas as processes on a real apiserver (test/framework/fleet), driven by
// MCP clients that go through OAuth and call tools (test/framework/loadgen),
// while a replica is killed, the apiserver stops, an upstream misbehaves or
// the signing key rotates. docs/reliability.md has what they measured.
package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fleet"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
)

var (
	env    *controlplane.Env
	binDir string
)

func TestMain(m *testing.M) {
	code := controlplane.RunSuite(m, &env, func(*controlplane.Env) error {
		dir, err := os.MkdirTemp("", "reliability-bin-")
		if err != nil {
			return err
		}
		binDir = dir
		return controlplane.BuildCommands(dir, "./cmd/runtime", "./cmd/links-toolset")
	})
	_ = os.RemoveAll(binDir)
	os.Exit(code)
}

// startFleet starts a fleet of replicas on the suite's control plane; every
// test's fleet uses the same objects (created once).
func startFleet(t *testing.T, replicas int) *fleet.Fleet {
	t.Helper()
	if testing.Short() {
		t.Skip("starts runtime processes")
	}
	dir := filepath.Join(t.TempDir(), "fleet")
	f, err := fleet.Start(context.Background(), fleet.Options{Env: env, BinDir: binDir, Dir: dir, Replicas: replicas,
		PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Stop()
		if t.Failed() {
			dumpLogs(t, dir)
		}
	})
	return f
}

// dumpLogs prints the tail of every process log of a failed test.
func dumpLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("--- %s (tail)\n%s", filepath.Base(l), b)
	}
}

// clients returns n clients of the fleet's target, each authorized once.
func clients(t *testing.T, f *fleet.Fleet, n int, keepAlive bool) []*loadgen.Client {
	t.Helper()
	rt := f.Transport(keepAlive)
	out := make([]*loadgen.Client, n)
	for i := range out {
		c, err := loadgen.NewClient(f.Target(), rt, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Authorize(context.Background()); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		out[i] = c
	}
	return out
}

// logStats logs the stats of each op in a window.
func logStats(t *testing.T, what string, results []loadgen.Result, from, to time.Time) map[loadgen.Op]*loadgen.Stats {
	t.Helper()
	stats := loadgen.Summarize(results, from, to)
	t.Logf("%s (%.1f s):", what, to.Sub(from).Seconds())
	for _, op := range loadgen.Ops {
		if s := stats[op]; s != nil {
			t.Log("  " + s.String())
			for e, n := range s.ErrorCounts() {
				t.Log("    " + fmt.Sprint(n) + "× " + e)
			}
		}
	}
	return stats
}

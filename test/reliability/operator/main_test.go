// Package operator_test puts the operator through faults, as real processes
// on loopback: the manager binary against a real kube-apiserver (with
// kube-controller-manager's garbage collector where owner references
// matter), killed with SIGKILL mid-work and run as two replicas with leader
// election. Each test starts its own control plane, so that one test's
// thousand handles do not reach the other's operator.
package operator_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testoperator"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// manager is the operator binary TestMain builds.
var manager string

func TestMain(m *testing.M) {
	flag.Parse()
	// envtest logs through controller-runtime; its errors come back as
	// errors anyway.
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "faults-operator-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := controlplane.BuildCommands(dir, "./cmd/manager"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	manager = filepath.Join(dir, "manager")
	return m.Run()
}

// cluster is one test's control plane and the files its operators read.
type cluster struct {
	env *controlplane.Env
	// c is the test's own client, not rate-limited in practice.
	c          client.Client
	cfg        *platform.Config
	dir        string
	configPath string
}

func startCluster(ctx context.Context, t *testing.T, opts ...controlplane.Option) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a control plane and the operator as processes")
	}
	env, err := controlplane.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := controlplane.UnlimitedClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	configPath, cfg, err := testoperator.WritePlatformConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}); err != nil {
		t.Fatal(err)
	}
	return &cluster{env: env, c: c, cfg: cfg, dir: dir, configPath: configPath}
}

// kubeconfig writes a kubeconfig for a new cluster-admin user; each
// operator identity gets its own, so the apiserver tells them apart.
func (cl *cluster) kubeconfig(t *testing.T, user string) string {
	t.Helper()
	path := filepath.Join(cl.dir, user+".kubeconfig")
	if err := cl.env.WriteKubeconfig(path, user); err != nil {
		t.Fatal(err)
	}
	return path
}

// startOperator runs the manager with its output in <name>.log, in
// $FAULTS_LOG_DIR when set (kept) or the test's folder; the test's end stops
// it, and a failed test shows the log's end.
func (cl *cluster) startOperator(t *testing.T, name, kubeconfig string, args ...string) *proc.Process {
	t.Helper()
	logs := cl.dir
	if d := os.Getenv("FAULTS_LOG_DIR"); d != "" {
		logs = filepath.Join(d, t.Name())
		if err := os.MkdirAll(logs, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p, err := testoperator.Start(filepath.Join(logs, name+".log"), manager, cl.configPath, kubeconfig, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", name, tail(p.LogPath, 20))
		}
	})
	return p
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = f.Close() }()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitFor polls check every second (a List of a thousand handles is work
// for the apiserver the operator competes for) until it returns nil and
// returns how long that took. It fails the test with check's last error
// when timeout passes, or at once when one of the processes that should run
// exits.
func waitFor(ctx context.Context, t *testing.T, timeout time.Duration, running []*proc.Process, check func(context.Context) error) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var exited *proc.Process
	err := waitfor.PollEvery(ctx, time.Second, timeout, "the operator's convergence", func() error {
		for _, p := range running {
			select {
			case <-p.Exited():
				exited = p
				cancel()
			default:
			}
		}
		return check(ctx)
	})
	if exited != nil {
		t.Fatal(exited.ExitErr("operator"))
	}
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// converged is a waitFor check: at least want of the n handles expected
// have a current, Accepted status, their hosted route and their certificate.
func converged(cl *cluster, want, n int) func(context.Context) error {
	return func(ctx context.Context) error {
		done, err := testoperator.CountConverged(ctx, cl.c, cl.cfg.Namespace, n)
		if err == nil && done < want {
			err = fmt.Errorf("%d of %d handles converged", done, n)
		}
		return err
	}
}

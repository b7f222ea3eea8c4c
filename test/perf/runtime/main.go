// Command runtime measures the MCP runtime's memory with many handles and
// grants loaded: it starts its own control plane, creates -handles Handles
// and -grants Connections (grants spread evenly over the handles, each with
// the status a bootstrapped grant has), runs bin/runtime as a separate
// process, sends one MCP ping with a token of every grant (so the runtime's
// caches load every Handle and Connection, and each grant is read on the
// request path), and reads the runtime's resident memory and, from
// GODEBUG=gctrace=1, its Go heap. `make bench-runtime` builds the runtime and
// runs it with 5,000 handles and 50,000 grants, after the in-process latency
// benchmarks of this folder (bench_test.go); docs/performance.md records the
// results.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/examples/links"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
	"github.com/10xdotin/mcp-handle-operator/test/framework/bench"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
)

const (
	signingKeysSecret = "mcp-runtime-signing-keys"
	usersSecret       = "mcp-users"
	benchToolset      = "links"
	startupTimeout    = 2 * time.Minute
	rssInterval       = 100 * time.Millisecond
)

type options struct {
	handles, grants, workers, concurrency int
	grantStatus                           bool
	runtimeBin, runtimeLog                string
	settle                                time.Duration
	output                                string
}

func main() {
	var o options
	flag.IntVar(&o.handles, "handles", 5000, "number of Handles")
	flag.IntVar(&o.grants, "grants", 50000, "number of Connections (grants), spread evenly over the handles")
	flag.IntVar(&o.workers, "workers", 16, "concurrent create requests")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent MCP requests while touching every grant")
	flag.BoolVar(&o.grantStatus, "grant-status", true, "give every grant the status of a bootstrapped grant (one more write per grant)")
	flag.StringVar(&o.runtimeBin, "runtime", filepath.Join(controlplane.RepoRoot(), "bin", "runtime"), "the runtime binary")
	flag.StringVar(&o.runtimeLog, "runtime-log", filepath.Join(os.TempDir(), "bench-runtime.log"), "file for the runtime's output, kept after the run")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "pause after the last request before memory is read")
	flag.StringVar(&o.output, "o", "text", "report format: text or markdown")
	flag.Parse()
	if o.handles < 1 || o.grants < 0 || o.workers < 1 || o.concurrency < 1 || (o.output != "text" && o.output != "markdown") || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "runtime: bad flags; see -help")
		os.Exit(2)
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	rows, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "runtime:", err)
		os.Exit(1)
	}
	bench.PrintRows(os.Stdout, rows, o.output == "markdown")
}

func run(ctx context.Context, o options) (rows [][2]string, err error) {
	step("starting etcd and kube-apiserver")
	cp, err := controlplane.Start()
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("failed to stop the control plane: %w", stopErr))
		}
	}()
	dir, err := os.MkdirTemp("", "bench-runtime-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, "local-admin"); err != nil {
		return nil, err
	}
	configPath, cfg, err := writePlatformConfig(dir)
	if err != nil {
		return nil, err
	}
	c, err := controlplane.UnlimitedClient(cp.Config)
	if err != nil {
		return nil, err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}); err != nil {
		return nil, err
	}
	if err := createUsers(ctx, c, cfg.Namespace); err != nil {
		return nil, err
	}
	// The keys the runtime loads at start, created here first so the
	// benchmark can mint access tokens and run a Toolset that trusts the
	// runtime's upstream tokens.
	keys, err := runtime.LoadKeyRing(ctx, c, cfg.Namespace, signingKeysSecret)
	if err != nil {
		return nil, err
	}
	minter, err := upstream.LoadMinter(ctx, c, cfg.Namespace, upstream.DefaultSecretName, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	toolsetURL, stopToolset := startLinks(cfg.Issuer, minter)
	defer stopToolset()
	if err := c.Create(ctx, &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: benchToolset}, Spec: mcpv1alpha1.ToolsetSpec{
		URL:    toolsetURL,
		Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{mcpv1alpha1.ScopeLinksRead}, Write: []mcpv1alpha1.Scope{mcpv1alpha1.ScopeLinksWrite}}}}); err != nil {
		return nil, err
	}

	step(fmt.Sprintf("creating %d Handles", o.handles))
	start := time.Now()
	if err := bench.ForAll(ctx, o.workers, o.handles, func(ctx context.Context, i int) error {
		return c.Create(ctx, benchHandle(i))
	}); err != nil {
		return nil, err
	}
	handlesTook := time.Since(start)
	step(fmt.Sprintf("creating %d Connections (status: %t)", o.grants, o.grantStatus))
	now := time.Now()
	start = time.Now()
	if err := bench.ForAll(ctx, o.workers, o.grants, func(ctx context.Context, i int) error {
		g := grantOf(o, i, now)
		status := g.Status
		if err := c.Create(ctx, g); err != nil {
			return err
		}
		if !o.grantStatus {
			return nil
		}
		g.Status = status
		return c.Status().Update(ctx, g)
	}); err != nil {
		return nil, err
	}
	grantsTook := time.Since(start)

	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	step(fmt.Sprintf("starting %s on %s (output in %s)", o.runtimeBin, addr, o.runtimeLog))
	rt, err := startRuntime(o, configPath, kubeconfig, addr)
	if err != nil {
		return nil, err
	}
	defer rt.Stop(10 * time.Second)
	startedAt := time.Now()
	if err := rt.WaitOK(ctx, "http://"+addr+"/healthz", startupTimeout); err != nil {
		return nil, err
	}
	startup := time.Since(startedAt)
	time.Sleep(o.settle)
	idleRSS, err := proc.StatusBytes(rt.PID(), "VmRSS")
	if err != nil {
		return nil, err
	}

	step(fmt.Sprintf("one MCP ping with a token of each of the %d grants", o.grants))
	touchTook, lat, err := touch(ctx, o, cfg, keys.Keys(), addr, now)
	if err != nil {
		return nil, err
	}
	time.Sleep(o.settle)
	rss, err := proc.StatusBytes(rt.PID(), "VmRSS")
	if err != nil {
		return nil, err
	}
	hwm, err := proc.StatusBytes(rt.PID(), "VmHWM")
	if err != nil {
		return nil, err
	}
	rt.Stop(10 * time.Second)
	gc, err := lastGC(o.runtimeLog)
	if err != nil {
		return nil, err
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	rows = [][2]string{
		{"Handles, grants", fmt.Sprintf("%d, %d (status set: %t)", o.handles, o.grants, o.grantStatus)},
		{"Created in", fmt.Sprintf("handles %.1f s, grants %.1f s (%d workers)", handlesTook.Seconds(), grantsTook.Seconds(), o.workers)},
		{"Runtime start until /healthz", fmt.Sprintf("%.1f s", startup.Seconds())},
		{"Runtime RSS after start (idle)", fmt.Sprintf("%.0f MiB", proc.MiB(idleRSS))},
		{fmt.Sprintf("MCP pings, one per grant (%d concurrent)", o.concurrency),
			fmt.Sprintf("%d in %.1f s (%.0f/s), p50 %s, p99 %s", len(lat), touchTook.Seconds(), float64(len(lat))/touchTook.Seconds(),
				q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond))},
		{"Runtime RSS after every grant was used", fmt.Sprintf("%.0f MiB (VmRSS); peak %.0f MiB (VmHWM); largest sample %.0f MiB", proc.MiB(rss), proc.MiB(hwm), proc.MiB(rt.maxRSS.Load()))},
		{"Runtime Go heap (last GC before stop, gctrace)", gc},
		{"CPUs, Go", fmt.Sprintf("%d, %s", goruntime.NumCPU(), goruntime.Version())},
		{"Command", strings.Join(append([]string{"runtime"}, os.Args[1:]...), " ")},
	}
	return rows, nil
}

// writePlatformConfig writes config/platform/platform.yaml with static-user
// sign-in (the runtime needs a sign-in method) and loads it back.
func writePlatformConfig(dir string) (string, *platform.Config, error) {
	c, err := fixtures.RepoPlatform()
	if err != nil {
		return "", nil, err
	}
	c.SignIn = platform.SignIn{StaticUsersSecret: usersSecret}
	path := filepath.Join(dir, "platform.yaml")
	cfg, err := fixtures.WritePlatform(path, c)
	return path, cfg, err
}

func createUsers(ctx context.Context, c client.Client, ns string) error {
	return c.Create(ctx, fixtures.UsersSecretIn(ns, usersSecret, fixtures.User("alice@example.com", "bench-password")))
}

// startLinks runs the example Links toolset on loopback, trusting the
// runtime's upstream keys; the runtime lists its tools at start.
func startLinks(issuer string, minter *upstream.Minter) (string, func()) {
	jwks := httptest.NewServer(http.HandlerFunc(minter.ServeJWKS))
	ts := httptest.NewUnstartedServer(nil)
	ls := &links.Server{Log: slog.New(slog.DiscardHandler)}
	u := "http://" + ts.Listener.Addr().String() + "/mcp"
	ls.Verifier = &links.Verifier{Issuer: issuer, Audience: u, Keys: &links.KeySet{URL: jwks.URL}}
	ts.Config.Handler = ls.Handler()
	ts.Start()
	return u, func() { ts.Close(); jwks.Close() }
}

var benchScopes = []mcpv1alpha1.Scope{mcpv1alpha1.ScopeMCPConnect, mcpv1alpha1.ScopeSkillsRead, mcpv1alpha1.ScopeLinksRead}

func handleName(i int) string { return fmt.Sprintf("h%05d", i+1) }

// benchHandle is a handle with two members and the Links toolset.
func benchHandle(i int) *mcpv1alpha1.Handle {
	return &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: handleName(i)}, Spec: mcpv1alpha1.HandleSpec{
		Members: []mcpv1alpha1.HandleMember{
			{User: fmt.Sprintf("owner-%d@example.com", i), Scopes: benchScopes},
			{Group: "support", Scopes: benchScopes[:2]},
		},
		Toolsets: []mcpv1alpha1.ToolsetReference{{Name: benchToolset}}}}
}

// grantOf is the i-th grant: grants go round-robin over the handles.
func grantOf(o options, i int, now time.Time) *mcpv1alpha1.Connection {
	h := handleName(i % o.handles)
	return benchGrant(fmt.Sprintf("%s-g%06d", h, i), h, i, benchScopes, 3, now)
}

// benchGrant is a Connection as the runtime leaves it after the code
// exchange, the bootstrap check, a few refreshes and the first tool
// discovery.
func benchGrant(name, handle string, i int, scopes []mcpv1alpha1.Scope, toolCount int32, now time.Time) *mcpv1alpha1.Connection {
	t := metav1.NewTime(now.Truncate(time.Second))
	hash := func(s string) string { return tokens.Hash(fmt.Sprintf("%s-%d", s, i)) }
	conn := &mcpv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: mcpv1alpha1.ConnectionSpec{Handle: handle, ClientID: handle + "-chatgpt", Subject: fmt.Sprintf("https://ai.10x.in#user-%d", i),
			Email: fmt.Sprintf("user-%d@example.com", i), Resource: "https://" + handle + ".mcp.10x.in/mcp", Scopes: scopes},
		Status: mcpv1alpha1.ConnectionStatus{
			Conditions: []metav1.Condition{{Type: mcpv1alpha1.ConnectionConditionReady, Status: metav1.ConditionTrue, Reason: "ToolsDiscovered",
				Message: fmt.Sprintf("the connector listed %d tools", toolCount), LastTransitionTime: t}},
			Bootstrap: &mcpv1alpha1.ConnectionBootstrap{LastDiscoveryTime: &t, ToolCount: &toolCount, Steps: []mcpv1alpha1.ConnectionBootstrapStep{
				{Name: mcpv1alpha1.BootstrapStepAuthorized, Result: mcpv1alpha1.BootstrapSucceeded, Time: &t},
				{Name: mcpv1alpha1.BootstrapStepToolsChecked, Result: mcpv1alpha1.BootstrapSucceeded, Time: &t},
				{Name: mcpv1alpha1.BootstrapStepToolsDiscovered, Result: mcpv1alpha1.BootstrapSucceeded, Time: &t}}},
		},
	}
	_ = grants.SetTokenState(conn, grants.TokenState{RefreshTokenHash: hash("refresh"), RefreshCount: 3, LastRefreshTime: &t, ConsumedCodeHash: hash("code")})
	return conn
}

// touch sends one MCP ping to each grant's handle with a token of the
// grant, and returns the time it took and each request's latency.
func touch(ctx context.Context, o options, cfg *platform.Config, ks *tokens.KeySet, addr string, now time.Time) (time.Duration, []time.Duration, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency * 2}}
	defer hc.CloseIdleConnections()
	scopeSet, _ := tokens.NewScopeSet(benchScopes...)
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}`)
	lat := make([]time.Duration, o.grants)
	start := time.Now()
	err := bench.ForAll(ctx, o.concurrency, o.grants, func(ctx context.Context, i int) error {
		g := grantOf(o, i, now)
		token, err := ks.MintAccess(tokens.Access{Handle: g.Spec.Handle, Subject: g.Spec.Subject, ClientID: g.Spec.ClientID, Grant: g.Name,
			Scopes: scopeSet, Expiry: now.Add(time.Hour)})
		if err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+platform.MCPPath, bytes.NewReader(body))
		req.Host = g.Spec.Handle + "." + cfg.MCPDomain
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		out, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		lat[i] = time.Since(t0)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"result"`)) {
			return fmt.Errorf("ping for grant %s: %d %s", g.Name, resp.StatusCode, out)
		}
		return nil
	})
	return time.Since(start), lat, err
}

// runtimeProc is bin/runtime running as a child process.
type runtimeProc struct {
	*proc.Process
	maxRSS atomic.Uint64
}

func startRuntime(o options, configPath, kubeconfig, addr string) (*runtimeProc, error) {
	p, err := proc.Start(o.runtimeLog, []string{"KUBECONFIG=" + kubeconfig, "GODEBUG=gctrace=1"}, o.runtimeBin,
		"--platform-config="+configPath, "--listen="+addr, "--metrics-listen=127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rp := &runtimeProc{Process: p}
	go func() {
		tick := time.NewTicker(rssInterval)
		defer tick.Stop()
		for {
			select {
			case <-p.Exited():
				return
			case <-tick.C:
				if rss, err := proc.StatusBytes(p.PID(), "VmRSS"); err == nil && rss > rp.maxRSS.Load() {
					rp.maxRSS.Store(rss)
				}
			}
		}
	}()
	return rp, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// lastGC returns the heap figures of the last gctrace line in the log:
// "gc N @t s P%: ... A->B->C MB, G MB goal, ...", where C is the live heap
// after marking.
func lastGC(logPath string) (string, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	var last string
	var maxLive float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gc ") || !strings.Contains(line, " MB goal") {
			continue
		}
		last = line
		if live, ok := liveHeap(line); ok && live > maxLive {
			maxLive = live
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if last == "" {
		return "no gctrace output", nil
	}
	live, _ := liveHeap(last)
	_, goal, _ := strings.Cut(last, " MB, ")
	goal, _, _ = strings.Cut(goal, " MB goal")
	return fmt.Sprintf("%.0f MB live after the last GC (largest %.0f MB), goal %s MB", live, maxLive, goal), nil
}

func liveHeap(line string) (float64, bool) {
	fields := strings.Fields(line)
	for i, f := range fields {
		if f == "MB," && i > 0 && strings.Count(fields[i-1], "->") == 2 {
			parts := strings.Split(fields[i-1], "->")
			v, err := strconv.ParseFloat(parts[2], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func step(msg string) { fmt.Fprintln(os.Stderr, ">>", msg) }

// Command handles is a load benchmark: how fast the operator converges on
// many Handles compared with how fast this machine's apiserver accepts plain
// writes, and how much memory the operator needs for it.
//
// It starts its own control plane and runs bin/manager as a separate process
// with the platform configuration in perHandle TLS mode (the mode with the
// most writes per handle), so the operator's memory is measured alone and its
// client behaves as in a deployment. `make bench-handles` builds the manager
// and runs it with 5,000 handles; docs/performance.md records the results.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/apimetrics"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testoperator"
)

const (
	// ceilingNamespace holds the ConfigMaps of the ceiling measurement, apart
	// from everything the operator reads.
	ceilingNamespace = "bench-ceiling"
	// startupTimeout bounds the operator's start: cache sync and its first
	// platform reconcile take seconds.
	startupTimeout = 2 * time.Minute
	// rssInterval is how often the operator's resident memory is sampled.
	rssInterval = 100 * time.Millisecond
	// progressInterval is how often the convergence wait reports progress.
	progressInterval = 10 * time.Second
)

type options struct {
	n, workers, writesPerHandle int
	qps                         float64
	burst, reconciles           int
	manager, managerLog         string
	timeout, poll               time.Duration
	output                      string
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "handles:", err)
		os.Exit(2)
	}
	// envtest logs through controller-runtime, which otherwise complains
	// that no logger was set.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "handles:", err)
		os.Exit(1)
	}
	rows := report(o, res)
	if o.output == "markdown" {
		printMarkdown(os.Stdout, rows)
	} else {
		printText(os.Stdout, rows)
	}
}

func parseFlags() (options, error) {
	var o options
	flag.IntVar(&o.n, "n", 5000, "number of Handles, and of ConfigMaps for the ceiling")
	flag.IntVar(&o.workers, "workers", 16, "concurrent create requests, for the ceiling and for the Handles")
	flag.IntVar(&o.writesPerHandle, "k", 5, "apiserver writes the operator needs per handle in perHandle TLS mode "+
		"(hosted and compatibility HTTPRoutes, Certificate, ListenerSet, one status apply); the second ceiling creates n*k ConfigMaps")
	flag.StringVar(&o.manager, "manager", filepath.Join(controlplane.RepoRoot(), "bin", "manager"), "the operator binary")
	flag.StringVar(&o.managerLog, "manager-log", filepath.Join(os.TempDir(), "bench-handles-manager.log"), "file for the operator's output, kept after the run")
	flag.Float64Var(&o.qps, "kube-api-qps", 100, "the operator's --kube-api-qps")
	flag.IntVar(&o.burst, "kube-api-burst", 200, "the operator's --kube-api-burst")
	flag.IntVar(&o.reconciles, "max-concurrent-reconciles", 8, "the operator's --max-concurrent-reconciles")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "longest wait, from the first Handle create, for the operator to converge")
	flag.DurationVar(&o.poll, "poll", 250*time.Millisecond, "pause between convergence checks")
	flag.StringVar(&o.output, "o", "text", "report format: text or markdown")
	flag.Parse()
	switch {
	case o.n < 1 || o.workers < 1 || o.writesPerHandle < 1:
		return o, errors.New("-n, -workers and -k must be positive")
	case o.output != "text" && o.output != "markdown":
		return o, fmt.Errorf("-o %q: want text or markdown", o.output)
	case flag.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	return o, nil
}

// results are the raw measurements; report turns them into rows.
type results struct {
	ceilingN, ceilingNK time.Duration
	// creates is how long issuing the Handle creates took, converge how long
	// until the operator had finished them all, both from the first create.
	creates, converge time.Duration
	// writes counts the apiserver's write requests during convergence by
	// resource, without the benchmark's own Handle creates.
	writes map[string]float64
	// hwm is the operator's VmHWM, sampled the largest VmRSS seen, in bytes.
	hwm, sampled uint64
}

func run(ctx context.Context, o options) (res results, err error) {
	step("starting etcd and kube-apiserver")
	cp, err := controlplane.Start()
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("failed to stop the control plane: %w", stopErr))
		}
	}()
	dir, err := os.MkdirTemp("", "bench-handles-")
	if err != nil {
		return res, fmt.Errorf("failed to create a temporary folder: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, "local-admin"); err != nil {
		return res, err
	}
	configPath, cfg, err := testoperator.WritePlatformConfig(dir)
	if err != nil {
		return res, err
	}
	c, err := controlplane.UnlimitedClient(cp.Config)
	if err != nil {
		return res, err
	}
	b := &bench{o: o, admin: cp.Config, c: c, ns: cfg.Namespace, configPath: configPath, kubeconfig: kubeconfig}
	if err := createNamespaces(ctx, c, b.ns, ceilingNamespace); err != nil {
		return res, err
	}
	if err := b.measureCeiling(ctx, &res); err != nil {
		return res, err
	}
	err = b.measureOperator(ctx, &res)
	return res, err
}

// bench is what the measurements share: the options, the control plane and
// the files the operator reads.
type bench struct {
	o     options
	admin *rest.Config
	// c is the benchmark's own client, not rate-limited in practice.
	c client.Client
	// ns is the platform namespace, where the operator writes.
	ns                     string
	configPath, kubeconfig string
}

// measureOperator runs the operator, creates the Handles and waits for it to
// converge, recording its writes and its memory.
func (b *bench) measureOperator(ctx context.Context, res *results) error {
	step(fmt.Sprintf("starting %s (output in %s)", b.o.manager, b.o.managerLog))
	op, err := startOperator(b.o, b.configPath, b.kubeconfig)
	if err != nil {
		return err
	}
	defer op.Stop(10 * time.Second)
	if err := testoperator.WaitStarted(ctx, b.c, b.ns, op.Process, startupTimeout); err != nil {
		return err
	}
	before, err := apimetrics.WriteCounts(ctx, b.admin)
	if err != nil {
		return err
	}
	step(fmt.Sprintf("creating %d Handles and waiting for the operator", b.o.n))
	if res.creates, res.converge, err = b.convergeHandles(ctx, op); err != nil {
		return err
	}
	after, err := apimetrics.WriteCounts(ctx, b.admin)
	if err != nil {
		return err
	}
	res.writes = operatorWrites(before, after)
	// VmHWM is the peak over the process's life; read it while it is alive.
	if res.hwm, err = proc.StatusBytes(op.PID(), "VmHWM"); err != nil {
		return err
	}
	res.sampled = op.maxRSS.Load()
	return nil
}

func createNamespaces(ctx context.Context, c client.Client, names ...string) error {
	for _, name := range names {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return fmt.Errorf("failed to create namespace %s: %w", name, err)
		}
	}
	return nil
}

// measureCeiling times creating n, then n*k, ConfigMaps: the apiserver's
// write rate for the operator's two possible yardsticks, one write per handle
// and the k writes the operator needs per handle.
func (b *bench) measureCeiling(ctx context.Context, res *results) (err error) {
	o := b.o
	step(fmt.Sprintf("ceiling: creating %d ConfigMaps", o.n))
	if res.ceilingN, err = testoperator.CreateAll(ctx, b.c, o.workers, o.n, configMap("n")); err != nil {
		return err
	}
	step(fmt.Sprintf("ceiling: creating %d ConfigMaps", o.n*o.writesPerHandle))
	res.ceilingNK, err = testoperator.CreateAll(ctx, b.c, o.workers, o.n*o.writesPerHandle, configMap("nk"))
	return err
}

func configMap(prefix string) func(int) client.Object {
	return func(i int) client.Object {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ceilingNamespace, Name: fmt.Sprintf("%s-%06d", prefix, i+1)}}
	}
}

func handle(i int) client.Object {
	return &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("h%05d", i+1)}}
}

// operator is the manager running as a child process.
type operator struct {
	*proc.Process
	// maxRSS is the largest VmRSS sampled, in bytes.
	maxRSS atomic.Uint64
}

func startOperator(o options, configPath, kubeconfig string) (*operator, error) {
	p, err := testoperator.Start(o.managerLog, o.manager, configPath, kubeconfig,
		"--kube-api-qps="+strconv.FormatFloat(o.qps, 'g', -1, 64),
		"--kube-api-burst="+strconv.Itoa(o.burst),
		"--max-concurrent-reconciles="+strconv.Itoa(o.reconciles),
	)
	if err != nil {
		return nil, err
	}
	op := &operator{Process: p}
	go op.sampleRSS()
	return op, nil
}

// sampleRSS records the largest VmRSS until the process exits. VmHWM gives
// the true peak; the samples confirm it is not a start-up spike.
func (op *operator) sampleRSS() {
	tick := time.NewTicker(rssInterval)
	defer tick.Stop()
	for {
		select {
		case <-op.Exited():
			return
		case <-tick.C:
			if rss, err := proc.StatusBytes(op.PID(), "VmRSS"); err == nil && rss > op.maxRSS.Load() {
				op.maxRSS.Store(rss)
			}
		}
	}
}

// convergeHandles creates the Handles and polls until the operator has
// finished every one, returning the time to issue the creates and the time
// to convergence, both from the first create.
func (b *bench) convergeHandles(ctx context.Context, op *operator) (creates, converge time.Duration, err error) {
	o := b.o
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	if _, err := testoperator.CreateAll(ctx, b.c, o.workers, o.n, handle); err != nil {
		return 0, 0, err
	}
	creates = time.Since(start)
	// Polling starts once the creates are done: the operator cannot finish
	// before, and every List competes with it for the apiserver's CPU.
	lastReport, done := start, 0
	for {
		n, err := testoperator.CountConverged(ctx, b.c, b.ns, o.n)
		if ctx.Err() != nil {
			return 0, 0, fmt.Errorf("the operator did not converge within %s: %d of %d handles done", o.timeout, done, o.n)
		}
		if err != nil {
			return 0, 0, err
		}
		if done = n; done == o.n {
			return creates, time.Since(start), nil
		}
		if time.Since(lastReport) >= progressInterval {
			lastReport = time.Now()
			step(fmt.Sprintf("%s: %d of %d handles done", lastReport.Sub(start).Round(time.Second), done, o.n))
		}
		select {
		case <-op.Exited():
			return 0, 0, op.ExitErr("operator")
		case <-ctx.Done():
		case <-time.After(o.poll):
		}
	}
}

// operatorWrites returns the writes between two counts that the operator
// made: everything except the benchmark's Handle creates and the apiserver's
// own lease renewals (nothing else runs against this control plane).
func operatorWrites(before, after map[string]float64) map[string]float64 {
	writes := apimetrics.Delta(before, after)
	delete(writes, "handles")
	delete(writes, "leases")
	return writes
}

// row is one line of the report.
type row struct{ name, value string }

func report(o options, r results) []row {
	k := o.writesPerHandle
	perSec := func(count int, d time.Duration) string {
		return fmt.Sprintf("%.1f s (%.0f objects/s)", d.Seconds(), float64(count)/d.Seconds())
	}
	return []row{
		{"Handles (N)", strconv.Itoa(o.n)},
		{"Concurrent creates (W)", strconv.Itoa(o.workers)},
		{"Ceiling: N ConfigMaps", perSec(o.n, r.ceilingN)},
		{fmt.Sprintf("Ceiling: N×K ConfigMaps (K=%d)", k), perSec(o.n*k, r.ceilingNK)},
		{"Operator: N Handles converged", fmt.Sprintf("%.1f s (%.0f handles/s)", r.converge.Seconds(), float64(o.n)/r.converge.Seconds())},
		{"Handle creates issued in", fmt.Sprintf("%.1f s", r.creates.Seconds())},
		{"Operator / ceiling(N)", fmt.Sprintf("%.2f×", r.converge.Seconds()/r.ceilingN.Seconds())},
		{"Operator / ceiling(N×K)", fmt.Sprintf("%.2f×", r.converge.Seconds()/r.ceilingNK.Seconds())},
		{"Operator writes per handle until converged (measured)", writesSummary(r.writes, o.n)},
		{"Operator peak memory", fmt.Sprintf("%.0f MiB RSS (VmHWM; largest sample %.0f MiB)", proc.MiB(r.hwm), proc.MiB(r.sampled))},
		{"Operator flags", fmt.Sprintf("--kube-api-qps=%g --kube-api-burst=%d --max-concurrent-reconciles=%d", o.qps, o.burst, o.reconciles)},
		{"CPUs, Go", fmt.Sprintf("%d, %s", runtime.NumCPU(), runtime.Version())},
		{"Command", strings.Join(append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...), " ")},
	}
}

// writesSummary gives the total writes per handle and their split by
// resource, largest first.
func writesSummary(writes map[string]float64, n int) string {
	var total float64
	for _, v := range writes {
		total += v
	}
	resources := slices.SortedFunc(maps.Keys(writes), func(a, b string) int {
		return cmp.Or(cmp.Compare(writes[b], writes[a]), strings.Compare(a, b))
	})
	parts := make([]string, 0, len(resources))
	for _, res := range resources {
		parts = append(parts, fmt.Sprintf("%s %.2f", res, writes[res]/float64(n)))
	}
	return fmt.Sprintf("%.2f (%s)", total/float64(n), strings.Join(parts, ", "))
}

func printText(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r.name, r.value)
	}
	_ = tw.Flush()
}

func printMarkdown(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| Measure | Result |")
	fmt.Fprintln(w, "|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s |\n", r.name, strings.ReplaceAll(r.value, "|", `\|`))
	}
}

func step(msg string) { fmt.Fprintln(os.Stderr, ">>", msg) }

// Command load measures the rate of authorizations, refreshes and tool
// calls the runtime sustains on this machine with the 99th percentile under
// a stated latency, and the apiserver writes per second each causes. It
// starts a real apiserver and runtime replicas as processes behind a
// round-robin balancer (test/framework/fleet), all on loopback, and drives them
// with MCP clients (test/framework/loadgen): for each operation alone, it raises
// the number of concurrent clients step by step until the p99 exceeds the
// budget or a request fails. Every step is bounded in time and in
// requests.
//
//	go run ./test/load                  # make load
//	go run ./test/load -step 10s -concurrency 1,2,4,8,16,32,64
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/10xdotin/mcp-handle-operator/test/framework/apimetrics"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fleet"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
)

type options struct {
	replicas    int
	step        time.Duration
	maxRequests int
	concurrency []int
	budgets     map[loadgen.Op]time.Duration
	logDir      string
}

// mixes make each operation alone.
var mixes = map[loadgen.Op]loadgen.Mix{
	loadgen.OpAuthorize: {AuthorizeEvery: 1},
	loadgen.OpRefresh:   {RefreshEvery: 1},
	loadgen.OpCall:      {Calls: 1},
}

func main() {
	o := options{budgets: map[loadgen.Op]time.Duration{}}
	flag.IntVar(&o.replicas, "replicas", 2, "runtime replicas behind the balancer")
	flag.DurationVar(&o.step, "step", 5*time.Second, "how long each concurrency step runs")
	flag.IntVar(&o.maxRequests, "max-requests", 20000, "a step also ends after this many requests")
	conc := flag.String("concurrency", "1,2,4,8,16,32", "the concurrent clients of each step, ascending")
	auth := flag.Duration("budget-authorization", time.Second, "p99 budget of a whole authorization (authorize, consent, approval, code exchange)")
	refresh := flag.Duration("budget-refresh", 250*time.Millisecond, "p99 budget of a refresh")
	call := flag.Duration("budget-call", 100*time.Millisecond, "p99 budget of a tools/call (through the runtime to the Links toolset)")
	flag.StringVar(&o.logDir, "log-dir", "", "where the processes log (default: a temporary folder, removed)")
	flag.Parse()
	o.budgets[loadgen.OpAuthorize], o.budgets[loadgen.OpRefresh], o.budgets[loadgen.OpCall] = *auth, *refresh, *call
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "load: -concurrency: %q is not a positive number\n", f)
			os.Exit(2)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func step(msg string) { fmt.Fprintln(os.Stderr, ">>", msg) }

func run(ctx context.Context, o options) (err error) {
	f, cp, stop, err := fleet.StartLocal(ctx, fleet.Options{Dir: o.logDir, Replicas: o.replicas}, step)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	most := o.concurrency[len(o.concurrency)-1]
	step(fmt.Sprintf("signing in %d clients (one browser session each)", most))
	clients := make([]*loadgen.Client, most)
	for i := range clients {
		if clients[i], err = loadgen.NewClient(f.Target(), f.Transport(true), 30*time.Second); err != nil {
			return err
		}
		if err := clients[i].Authorize(ctx); err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
	}

	fmt.Printf("\n| operation | clients | requests | failed | rate (/s) | p50 | p99 | apiserver writes/s |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	// The highest rate of a step within the budget: more clients can
	// lower it while the p99 still fits.
	sustained, best := map[loadgen.Op]string{}, map[loadgen.Op]float64{}
	for _, op := range []loadgen.Op{loadgen.OpAuthorize, loadgen.OpRefresh, loadgen.OpCall} {
		for _, n := range o.concurrency {
			s, writes, err := measure(ctx, cp, clients[:n], op, o)
			if err != nil {
				return err
			}
			fmt.Printf("| %s | %d | %d | %d | %.1f | %s | %s | %.1f |\n", op, n, s.Count, s.Errors, s.Rate,
				s.P50.Round(100*time.Microsecond), s.P99.Round(100*time.Microsecond), writes)
			if s.Errors > 0 || s.P99 > o.budgets[op] {
				break
			}
			if s.Rate <= best[op] {
				continue
			}
			best[op] = s.Rate
			sustained[op] = fmt.Sprintf("%.1f/s with %d clients (p99 %s ≤ %s), %.1f apiserver writes/s", s.Rate, n,
				s.P99.Round(100*time.Microsecond), o.budgets[op], writes)
		}
	}
	fmt.Printf("\nSustained on this machine (%d CPUs, %s, %d runtime replicas, %s steps):\n\n", goruntime.NumCPU(), goruntime.Version(), o.replicas, o.step)
	for _, op := range []loadgen.Op{loadgen.OpAuthorize, loadgen.OpRefresh, loadgen.OpCall} {
		v := sustained[op]
		if v == "" {
			v = fmt.Sprintf("none: p99 over %s or failures already with %d client", o.budgets[op], o.concurrency[0])
		}
		fmt.Printf("- %s: %s\n", op, v)
	}
	return nil
}

// measure runs clients doing op alone for one step and returns its stats and
// the apiserver writes per second it caused.
func measure(ctx context.Context, cp *controlplane.Env, clients []*loadgen.Client, op loadgen.Op, o options) (*loadgen.Stats, float64, error) {
	before, err := apimetrics.WriteCounts(ctx, cp.Config)
	if err != nil {
		return nil, 0, err
	}
	rec := &loadgen.Recorder{}
	stepCtx, cancel := context.WithTimeout(ctx, o.step)
	defer cancel()
	go func() {
		for stepCtx.Err() == nil && rec.Len() < o.maxRequests {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	loadgen.Run(stepCtx, clients, rec, mixes[op])
	end := time.Now()
	after, err := apimetrics.WriteCounts(ctx, cp.Config)
	if err != nil {
		return nil, 0, err
	}
	// The apiserver's own lease renewals are not the runtime's.
	writes := apimetrics.Delta(before, after)
	delete(writes, "leases")
	s := loadgen.Summarize(rec.Results(), start, end)[op]
	if s == nil {
		return nil, 0, fmt.Errorf("no %s completed in %s", op, o.step)
	}
	return s, apimetrics.Sum(writes) / end.Sub(start).Seconds(), nil
}

// Command ratelimits measures how the MCP endpoint's rate limits add up
// across runtime replicas. Each replica keeps its own token buckets
// (docs/runtime.md#rate-limits), so a fleet of N replicas behind a balancer
// should admit about N times a limit. It starts a real apiserver and the
// replicas as processes behind the fleet's round-robin balancer
// (test/framework/fleet) with small limits, then drives them far over those
// limits with loadgen clients, a new connection per request as a Gateway
// spreads them: first many clients sharing one grant's token (the per-grant
// limit binds), then as many clients each with its own grant of the same
// handle (the per-handle limit binds). For each phase it prints the 200s and
// 429s of every replica (from its /metrics) and of the clients, and the
// admitted rate against one replica's limit.
//
//	go run ./test/load/ratelimits        # make load-ratelimits
//	go run ./test/load/ratelimits -replicas 3 -duration 30s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	goruntime "runtime"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fleet"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
	"github.com/10xdotin/mcp-handle-operator/test/framework/stack"
)

type options struct {
	replicas, clients   int
	duration, pause     time.Duration
	perGrant, perHandle platform.RateLimit
	logDir              string
}

func main() {
	var o options
	flag.IntVar(&o.replicas, "replicas", 2, "runtime replicas behind the balancer")
	flag.IntVar(&o.clients, "clients", 4, "concurrent clients of each phase")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long each phase runs")
	flag.DurationVar(&o.pause, "pause", 20*time.Millisecond, "each client's pause between requests (a new connection each)")
	flag.IntVar(&o.perGrant.RequestsPerMinute, "per-grant", 60, "mcpPerGrant requests per minute")
	flag.IntVar(&o.perGrant.Burst, "per-grant-burst", 10, "mcpPerGrant burst")
	flag.IntVar(&o.perHandle.RequestsPerMinute, "per-handle", 120, "mcpPerHandle requests per minute")
	flag.IntVar(&o.perHandle.Burst, "per-handle-burst", 20, "mcpPerHandle burst")
	flag.StringVar(&o.logDir, "log-dir", "", "where the processes log (default: a temporary folder, removed)")
	flag.Parse()
	if o.clients < 1 || o.replicas < 1 || o.perGrant.RequestsPerMinute < 1 || o.perHandle.RequestsPerMinute < 1 {
		fmt.Fprintln(os.Stderr, "ratelimits: -replicas, -clients, -per-grant and -per-handle must be positive")
		os.Exit(2)
	}
	// envtest logs through controller-runtime, which otherwise complains
	// that no logger was set.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	// Ctrl-C still stops the processes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratelimits:", err)
		os.Exit(1)
	}
}

func step(msg string) { fmt.Fprintln(os.Stderr, ">>", msg) }

func run(ctx context.Context, o options) (err error) {
	// Only the MCP limits: signing the clients in must not be refused.
	limits := stack.NoRateLimits()
	limits.MCPPerGrant, limits.MCPPerHandle = &o.perGrant, &o.perHandle
	f, _, stop, err := fleet.StartLocal(ctx, fleet.Options{Dir: o.logDir, Replicas: o.replicas, RateLimits: &limits}, step)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	newClient := func() (*loadgen.Client, error) {
		return loadgen.NewClient(f.Target(), f.Transport(false), 30*time.Second)
	}
	step(fmt.Sprintf("signing in %d clients with their own grants, and %d sharing one grant", o.clients, o.clients))
	own, shared := make([]*loadgen.Client, o.clients), make([]*loadgen.Client, o.clients)
	for i := range own {
		if own[i], err = newClient(); err != nil {
			return err
		}
		if err := own[i].Authorize(ctx); err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		if shared[i], err = newClient(); err != nil {
			return err
		}
		// Every shared client sends the first client's token: one grant.
		shared[i].Access = own[0].Access
	}

	fmt.Printf("\n%d runtime replicas, %d clients a phase, %s each, a request every %s per client (%d CPUs, %s)\n\n",
		o.replicas, o.clients, o.duration, o.pause, goruntime.NumCPU(), goruntime.Version())
	fmt.Println("| phase | replica | 200 | 429 | other | admitted/s |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	var summary []string
	phases := []struct {
		name    string
		clients []*loadgen.Client
		limit   platform.RateLimit
	}{
		{"one grant (mcpPerGrant)", shared, o.perGrant},
		{"one handle, a grant per client (mcpPerHandle)", own, o.perHandle},
	}
	for i, p := range phases {
		if i > 0 {
			// The handle's buckets refill from the first phase, so this
			// phase starts from a full burst as the first did.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(p.limit.Burst) * time.Minute / time.Duration(p.limit.RequestsPerMinute)):
			}
		}
		line, err := measure(ctx, f, p.name, p.clients, p.limit, o)
		if err != nil {
			return err
		}
		summary = append(summary, line)
	}
	fmt.Println()
	for _, s := range summary {
		fmt.Println("- " + s)
	}
	return nil
}

// counts are a replica's MCP answers by status.
type counts struct{ ok, limited, other float64 }

// measure runs one phase and prints its rows; it returns the phase's summary.
func measure(ctx context.Context, f *fleet.Fleet, name string, clients []*loadgen.Client, limit platform.RateLimit, o options) (string, error) {
	before, err := scrapeAll(ctx, f)
	if err != nil {
		return "", err
	}
	rec := &loadgen.Recorder{}
	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	start := time.Now()
	loadgen.Run(runCtx, clients, rec, loadgen.Mix{Calls: 1, Pause: o.pause})
	end := time.Now()
	cancel()
	after, err := scrapeAll(ctx, f)
	if err != nil {
		return "", err
	}
	window := end.Sub(start).Seconds()
	var total counts
	for i := range f.Replicas {
		d := counts{after[i].ok - before[i].ok, after[i].limited - before[i].limited, after[i].other - before[i].other}
		total.ok, total.limited, total.other = total.ok+d.ok, total.limited+d.limited, total.other+d.other
		fmt.Printf("| %s | %d | %.0f | %.0f | %.0f | %.2f |\n", name, i+1, d.ok, d.limited, d.other, d.ok/window)
	}
	fmt.Printf("| %s | all | %.0f | %.0f | %.0f | %.2f |\n", name, total.ok, total.limited, total.other, total.ok/window)

	// The clients' view, as a cross-check of the replicas' counters.
	var ok, limited, other int
	for _, r := range rec.Results() {
		var e *loadgen.Error
		switch {
		case r.Err == nil:
			ok++
		case errors.As(r.Err, &e) && e.Status == http.StatusTooManyRequests:
			limited++
		default:
			other++
		}
	}
	// One replica admits its burst, then the rate: over the window that is
	// at most burst + rate × window; past the fleet's bursts, the rate.
	perSecond := float64(limit.RequestsPerMinute) / 60
	oneReplica := float64(limit.Burst) + perSecond*window
	steady := (total.ok - float64(len(f.Replicas)*limit.Burst)) / window
	return fmt.Sprintf("%s, %d/min burst %d: %.0f admitted in %.1f s = %.2f/s (clients: %d ok, %d 429, %d other); "+
		"one replica admits at most %d + %.2f/s × %.1f s = %.0f, the fleet %.2f× that; past the bursts %.2f/s = %.2f× the limit",
		name, limit.RequestsPerMinute, limit.Burst, total.ok, window, total.ok/window, ok, limited, other,
		limit.Burst, perSecond, window, oneReplica, total.ok/oneReplica, steady, steady/perSecond), nil
}

// scrapeAll reads every replica's MCP answers so far.
func scrapeAll(ctx context.Context, f *fleet.Fleet) ([]counts, error) {
	out := make([]counts, len(f.Replicas))
	for i, r := range f.Replicas {
		c, err := scrape(ctx, "http://"+r.MetricsAddr+"/metrics")
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i+1, err)
		}
		out[i] = c
	}
	return out, nil
}

// scrape sums mcp_runtime_requests_total{kind="mcp"} by status: every MCP
// request spends the buckets, initialize included.
func scrape(ctx context.Context, url string) (counts, error) {
	var c counts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return c, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	defer func() { _ = resp.Body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return c, err
	}
	fam := families["mcp_runtime_requests_total"]
	if fam == nil {
		return c, nil
	}
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["kind"] != "mcp" {
			continue
		}
		v := m.GetCounter().GetValue()
		switch labels["code"] {
		case "200":
			c.ok += v
		case "429":
			c.limited += v
		default:
			c.other += v
		}
	}
	return c, nil
}

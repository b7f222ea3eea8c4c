package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the MCP endpoint against the floor for the same work, each
// pair measured in the same benchmark run, on loopback, with the load
// generator in the same process (it costs both paths the same):
//
//	go test -run XXX -bench . -benchtime 50x -count 5 ./test/perf/runtime
//
// Every iteration (b.N) is one round of -round requests on each path, the
// path that goes first alternating, so drift (GC, frequency, other load)
// hits both. The metrics are per path over all rounds: p50 and p99 latency
// in µs, requests per second, and the runtime/floor ratios. ns/op is the
// time of one round of both paths and means little on its own.

var (
	roundSize = flag.Int("round", 100, "requests per path in one benchmark iteration")
)

// path is one way of serving a request.
type path struct {
	name string
	req  func() *http.Request
	ok   func(status int, body []byte) bool
}

// stats accumulates a path's latencies and busy time.
type stats struct {
	lat  []time.Duration
	wall time.Duration
}

func (s *stats) quantile(q float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	sorted := slices.Clone(s.lat)
	slices.Sort(sorted)
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s *stats) rps() float64 { return float64(len(s.lat)) / s.wall.Seconds() }

// round sends n requests on p with conc workers and adds their latencies
// and the round's wall time to st.
func round(f *fixture, p path, n, conc int, st *stats) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	lat := make([]time.Duration, n)
	var failed atomic.Pointer[error]
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				req := p.req()
				t0 := time.Now()
				status, _, body := f.do(req)
				lat[i] = time.Since(t0)
				if !p.ok(status, body) {
					err := fmt.Errorf("%s: %d %s", p.name, status, body)
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	st.wall += time.Since(start)
	if err := failed.Load(); err != nil {
		return *err
	}
	st.lat = append(st.lat, lat...)
	return nil
}

// compare runs rounds of the two paths and reports both and their ratios.
func compare(b *testing.B, f *fixture, subject, floor path, conc int) {
	b.Helper()
	// Warm up connections, pools and the upstream's JWK Set.
	for _, p := range []path{subject, floor} {
		if err := round(f, p, 4*conc+50, conc, &stats{}); err != nil {
			b.Fatal(err)
		}
	}
	var s, fl stats
	i := 0
	for b.Loop() {
		first, second := subject, floor
		firstSt, secondSt := &s, &fl
		if i%2 == 1 {
			first, second, firstSt, secondSt = floor, subject, &fl, &s
		}
		if err := round(f, first, *roundSize, conc, firstSt); err != nil {
			b.Fatal(err)
		}
		if err := round(f, second, *roundSize, conc, secondSt); err != nil {
			b.Fatal(err)
		}
		i++
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(s.quantile(0.5)), subject.name+"-p50-µs")
	b.ReportMetric(us(s.quantile(0.99)), subject.name+"-p99-µs")
	b.ReportMetric(us(fl.quantile(0.5)), floor.name+"-p50-µs")
	b.ReportMetric(us(fl.quantile(0.99)), floor.name+"-p99-µs")
	b.ReportMetric(us(s.quantile(0.5))/us(fl.quantile(0.5)), "p50-ratio")
	b.ReportMetric(us(s.quantile(0.99))/us(fl.quantile(0.99)), "p99-ratio")
	b.ReportMetric(s.rps(), subject.name+"-req/s")
	b.ReportMetric(fl.rps(), floor.name+"-req/s")
	b.ReportMetric(s.rps()/fl.rps(), "req/s-ratio")
}

// BenchmarkToolsCall is tools/call through the runtime (bearer and scope
// checks, mcp-go, an ES256 upstream token minted per call, the mcp-go
// client to the upstream) against the same call through a plain
// httputil.ReverseProxy to the same upstream: the floor for one extra hop.
// upstream=links is the example Links toolset (it verifies every token);
// upstream=echo answers without any check, which leaves the runtime's own
// cost most visible.
func BenchmarkToolsCall(b *testing.B) {
	for _, kind := range []string{"links", "echo"} {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("upstream=%s/conc=%d", kind, conc), func(b *testing.B) {
				f := newFixture(b, kind)
				runtimeBody, proxyBody := f.toolsCallBody(f.runtimeTool), f.toolsCallBody(f.upstreamTool)
				compare(b, f,
					path{name: "runtime", req: func() *http.Request { return f.runtimeRequest(runtimeBody) }, ok: callOK},
					path{name: "proxy", req: func() *http.Request { return f.proxyRequest(proxyBody) }, ok: callOK},
					conc)
			})
		}
	}
}

// BenchmarkToolsList is tools/list served by the runtime from its
// registered tools (bearer check, session check, scope check, the tool
// filter, the bootstrap hook's grant read) against a bare net/http handler
// writing the same response bytes and headers.
func BenchmarkToolsList(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			f := newFixture(b, "links")
			body := f.toolsListBody()
			same := func(status int, got []byte) bool { return status == http.StatusOK && bytes.Equal(got, f.bare.body) }
			compare(b, f,
				path{name: "runtime", req: func() *http.Request { return f.runtimeRequest(body) }, ok: same},
				path{name: "bare", req: func() *http.Request { return f.bareRequest(body) }, ok: same},
				conc)
		})
	}
}

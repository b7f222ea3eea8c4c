package loadgen

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Op is a kind of request a client makes.
type Op string

// The operations of the mixed load.
const (
	OpAuthorize Op = "authorization"
	OpRefresh   Op = "refresh"
	OpList      Op = "tools/list"
	OpCall      Op = "tools/call"
)

// Ops are the operations in report order.
var Ops = []Op{OpAuthorize, OpRefresh, OpList, OpCall}

// Result is one request: when it started and ended and how.
type Result struct {
	Op         Op
	Client     int
	Start, End time.Time
	Err        error
}

// Recorder keeps every request's result. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	results []Result
}

// Record runs f as the client's op and records it, unless it failed
// because ctx ended (the run stopped, not the server).
func (r *Recorder) Record(ctx context.Context, op Op, client int, f func() error) error {
	start := time.Now()
	err := f()
	if err != nil && ctx.Err() != nil {
		return err
	}
	res := Result{Op: op, Client: client, Start: start, End: time.Now(), Err: err}
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
	return err
}

// Results returns a copy of what was recorded so far.
func (r *Recorder) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.results)
}

// Stats summarise the requests of one op that started in a window.
type Stats struct {
	Op             Op
	Count, Errors  int
	Rate           float64 // successful requests per second of the window
	P50, P99, Max  time.Duration
	window         time.Duration
	errorsByDetail map[string]int
}

// Summarize returns the stats of each op over the requests that started in
// [from, to), latencies of successful requests only.
func Summarize(results []Result, from, to time.Time) map[Op]*Stats {
	out := map[Op]*Stats{}
	lat := map[Op][]time.Duration{}
	for _, res := range results {
		if res.Start.Before(from) || !res.Start.Before(to) {
			continue
		}
		s := out[res.Op]
		if s == nil {
			s = &Stats{Op: res.Op, window: to.Sub(from), errorsByDetail: map[string]int{}}
			out[res.Op] = s
		}
		s.Count++
		if res.Err != nil {
			s.Errors++
			s.errorsByDetail[res.Err.Error()]++
			continue
		}
		lat[res.Op] = append(lat[res.Op], res.End.Sub(res.Start))
	}
	for op, s := range out {
		l := lat[op]
		slices.Sort(l)
		s.P50, s.P99 = Quantile(l, 0.5), Quantile(l, 0.99)
		if len(l) > 0 {
			s.Max = l[len(l)-1]
		}
		s.Rate = float64(len(l)) / s.window.Seconds()
	}
	return out
}

// Quantile returns the q-quantile of sorted latencies (0 when empty).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// String is one line: count, errors, rate and latencies.
func (s *Stats) String() string {
	return fmt.Sprintf("%-13s %6d requests, %4d failed, %7.1f/s, p50 %s, p99 %s, max %s", s.Op, s.Count, s.Errors, s.Rate,
		s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Max.Round(10*time.Microsecond))
}

// ErrorCounts returns how often each distinct error occurred.
func (s *Stats) ErrorCounts() map[string]int { return s.errorsByDetail }

// Len is how many requests were recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.results)
}

// Package bench holds what the measurement commands of test/perf share:
// running requests on a fixed number of goroutines and printing results.
package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
)

// ForAll runs f for 0..n-1 on w workers and stops at the first error,
// which it returns.
func ForAll(ctx context.Context, w, n int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// PrintRows prints measure/result rows as aligned text, or as a Markdown
// table (for docs/performance.md) when markdown is set.
func PrintRows(w io.Writer, rows [][2]string, markdown bool) {
	if markdown {
		fmt.Fprintln(w, "| Measure | Result |")
		fmt.Fprintln(w, "|---|---|")
		for _, r := range rows {
			fmt.Fprintf(w, "| %s | %s |\n", r[0], strings.ReplaceAll(r[1], "|", `\|`))
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	_ = tw.Flush()
}

// Package apimetrics reads the apiserver's own request counters, so the
// benchmarks and the load script can say how many writes they caused.
package apimetrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// writeVerbs are the verbs of apiserver_request_total that write.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

// WriteCounts returns the apiserver's write requests so far by resource
// ("handles/status" for a subresource), from its /metrics.
func WriteCounts(ctx context.Context, admin *rest.Config) (map[string]float64, error) {
	hc, err := rest.HTTPClientFor(admin)
	if err != nil {
		return nil, fmt.Errorf("failed to create a metrics client: %w", err)
	}
	// The host may end in a slash, and //metrics is not found.
	u, err := url.JoinPath(admin.Host, "metrics")
	if err != nil {
		return nil, fmt.Errorf("failed to build the metrics URL: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to build the metrics request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to read the apiserver's metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("failed to read the apiserver's metrics: %s", resp.Status)
	}
	return parseWriteCounts(resp.Body)
}

// parseWriteCounts sums apiserver_request_total samples of write verbs by
// resource. The text format is simple enough not to need a parser library.
func parseWriteCounts(r io.Reader) (map[string]float64, error) {
	counts := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		sample, ok := strings.CutPrefix(sc.Text(), "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(sample, "} ")
		if !ok {
			continue
		}
		l := parseLabels(labels)
		if !writeVerbs[l["verb"]] {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("failed to parse metric value %q: %w", value, err)
		}
		key := l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		counts[key] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read the apiserver's metrics: %w", err)
	}
	return counts, nil
}

// parseLabels parses `a="x",b="y"`; apiserver label values hold no quotes
// or commas.
func parseLabels(s string) map[string]string {
	l := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			l[k] = strings.Trim(v, `"`)
		}
	}
	return l
}

// Sum is the total of counts.
func Sum(counts map[string]float64) float64 {
	total := 0.0
	for _, v := range counts {
		total += v
	}
	return total
}

// Delta is after minus before, by resource, leaving out resources that did
// not change.
func Delta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for r, v := range after {
		if v-before[r] > 0 {
			d[r] = v - before[r]
		}
	}
	return d
}

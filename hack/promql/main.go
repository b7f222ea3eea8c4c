// Command promql-check parses the alerting rules and dashboard expressions of
// the chart with Prometheus' own parser, so test/helm can check them without
// linking Prometheus into the root module.
//
//	promql-check -rules RULES.yaml -dashboard DASHBOARD.json
//
// RULES is a Prometheus rules file (a PrometheusRule's spec: groups), checked
// as Prometheus loads it (expressions, durations, label and annotation
// templates); DASHBOARD is a Grafana dashboard whose panels' target expr
// fields are parsed. It prints a JSON array, one entry per expression, with
// the metric names the expression selects and its parse error, if any, and
// exits 1 when any rule or expression fails.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// result is one expression: where it is, the metrics it selects and its error.
type result struct {
	Where   string   `json:"where"`
	Expr    string   `json:"expr"`
	Metrics []string `json:"metrics"`
	Error   string   `json:"error,omitempty"`
}

// dashboard is the part of a Grafana dashboard that holds expressions; rows
// nest their panels.
type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func main() {
	rules := flag.String("rules", "", "a Prometheus rules file (YAML or JSON with groups)")
	dashboard := flag.String("dashboard", "", "a Grafana dashboard (JSON)")
	flag.Parse()
	p := parser.NewParser(parser.Options{})
	var results []result
	failed := false
	if *rules != "" {
		groups, errs := rulefmt.ParseFile(*rules, false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
		for _, err := range errs {
			results = append(results, result{Where: "rules", Error: err.Error()})
			failed = true
		}
		if groups != nil {
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					results = append(results, check(p, g.Name+"/"+r.Alert+r.Record, r.Expr))
				}
			}
		}
	}
	if *dashboard != "" {
		var d struct{ Panels []panel }
		data, err := os.ReadFile(*dashboard)
		if err == nil {
			err = json.Unmarshal(data, &d)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var walk func([]panel)
		walk = func(panels []panel) {
			for _, pn := range panels {
				for _, t := range pn.Targets {
					results = append(results, check(p, "panel "+pn.Title, t.Expr))
				}
				walk(pn.Panels)
			}
		}
		walk(d.Panels)
	}
	for _, r := range results {
		failed = failed || r.Error != ""
	}
	out, _ := json.MarshalIndent(results, "", "  ")
	fmt.Println(string(out))
	if failed {
		os.Exit(1)
	}
}

// check parses one expression and lists the metric names it selects.
func check(p parser.Parser, where, expr string) result {
	r := result{Where: where, Expr: expr, Metrics: []string{}}
	e, err := p.ParseExpr(expr)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" && !slices.Contains(r.Metrics, vs.Name) {
			r.Metrics = append(r.Metrics, vs.Name)
		}
		return nil
	})
	return r
}

package clients_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// refusedOnPurpose are the checks of the conformance suite's server
// scenarios that succeed against server-everything directly but not through
// the runtime, on purpose: "scenario/check id" to why, in one sentence.
// docs/mcp.md must name every key, and an entry whose check succeeds
// through the runtime again (or no longer succeeds directly, or no longer
// exists) fails TestConformanceTransparency until it is removed.
//
// What belongs here: multi-tenant (or multi-replica) necessities, answers
// the protocol allows instead of the one the scenario expects, and — each
// starting "Not yet" — what the runtime does not offer yet.
var refusedOnPurpose = map[string]string{
	"tools-call-simple-text/tools-call-simple-text": fmt.Sprintf(bareToolName, "test_simple_text"),
	"tools-call-error/tools-call-error":             fmt.Sprintf(bareToolName, "test_error_handling"),
	"dns-rebinding-protection/localhost-host-valid-accepted": "A public multi-tenant endpoint accepts only its own https origins " +
		"(403 forbidden_origin): the scenario expects a plain-HTTP localhost server to accept http://127.0.0.1:PORT.",
	"server-session-lifecycle/server-session-delete-accepted": "Several replicas serve one session without shared state (sealed " +
		"session ids): DELETE answers 405, which the protocol allows, since no replica could keep the 404 a terminated id then needs.",
	"server-sse-multiple-streams/server-sse-streams-functional": "The runtime answers a POST with JSON unless it has something to " +
		"stream before the answer (progress, a server request), as the protocol allows; the suite reports INFO, not SUCCESS.",
	"server-sse-polling/server-sse-priming-event": "Follows from JSON answers to POSTs: there is no SSE stream to prime.",
}

// bareToolName is why a scenario that calls a fixture tool by its bare name
// cannot succeed through the runtime.
const bareToolName = "Multi-tenant necessity (a handle's tools are namespaced {toolset}_{tool}): the scenario calls the bare name %s, " +
	"which names no tool of the handle and so no upstream to relay to; it succeeds directly only because server-everything " +
	"answers a call of an unknown tool with an isError text result."

// transparencyVersions are the protocol versions TestConformanceTransparency
// runs the suite at (--spec-version).
var transparencyVersions = []string{"2025-11-25", "2026-07-28"}

// missingCheck is the status of a check that did not run through the
// runtime (its scenario wrote no result, or the result has no such check).
const missingCheck = "MISSING"

// checksByID reads the results of a suite run as scenario, check id, result.
// The suite may report a check id more than once in a scenario
// (server-stateless does): that check succeeded if every report did, and is
// otherwise the first report that did not.
func checksByID(results map[string][]conformanceCheck) map[string]map[string]conformanceCheck {
	out := map[string]map[string]conformanceCheck{}
	for scenario, checks := range results {
		byID := map[string]conformanceCheck{}
		for _, c := range checks {
			if prev, ok := byID[c.ID]; !ok || prev.Status == "SUCCESS" {
				byID[c.ID] = c
			}
		}
		out[scenario] = byID
	}
	return out
}

// suiteSummary counts, at one version and on one side, the scenarios whose
// every check succeeded (or is INFO) and the checks that succeeded.
func suiteSummary(results map[string]map[string]conformanceCheck) (scenarios, checks int) {
	for _, byID := range results {
		passed := true
		for _, c := range byID {
			switch c.Status {
			case "SUCCESS":
				checks++
			case "INFO":
			default:
				passed = false
			}
		}
		if passed {
			scenarios++
		}
	}
	return scenarios, checks
}

// mountEverything starts server-everything and mounts it as the Toolset
// everythingToolset of the handle, next to Links, until the test ends. It
// waits until the runtime lists every upstream tool as everything_{tool}
// to the bearer, and returns the upstream's MCP URL and tool names.
func (s *stack) mountEverything(t *testing.T, bearer string) (string, []string) {
	t.Helper()
	upstreamURL := s.startEverything(t)
	upstream := upstreamTools(t, upstreamURL)
	putToolset(t, everythingToolset, mcpv1alpha1.ToolsetSpec{URL: upstreamURL})
	setHandleToolsets(t, linksToolset, everythingToolset)
	t.Cleanup(func() {
		setHandleToolsets(t, linksToolset)
		toolset := &mcpv1alpha1.Toolset{}
		toolset.Name = everythingToolset
		_ = env.Client.Delete(context.Background(), toolset)
	})
	want := slices.Clone(linksTools)
	for _, name := range upstream {
		want = append(want, everythingToolset+"_"+name)
	}
	slices.Sort(want)
	s.waitForTools(t, s.cfg.HostedURL(handle), bearer, want)
	return upstreamURL, upstream
}

// TestConformanceTransparency proves the runtime transparent to an
// upstream: with @modelcontextprotocol/server-everything mounted as a
// Toolset of the handle, it runs every server scenario of the conformance
// suite (--suite all, which adds the draft scenarios) at each of
// transparencyVersions twice, once against server-everything directly and
// once against the handle's hosted URL (through tokenProxy, with a token for
// every scope the handle offers), and compares them check by check. A check
// that succeeds directly must succeed through the runtime unless
// refusedOnPurpose lists it; a check that fails directly is not compared
// (server-everything has none of the suite's fixtures, such as the tool
// test_image_content, the prompt test_simple_prompt or the resource
// test://static-text, and does not speak 2026-07-28).
func TestConformanceTransparency(t *testing.T) {
	docs, err := os.ReadFile("../../docs/mcp.md") // go test runs in this folder
	if err != nil {
		t.Fatal(err)
	}
	var undocumented []string
	for key := range refusedOnPurpose {
		if !strings.Contains(string(docs), key) {
			undocumented = append(undocumented, key)
		}
	}
	if slices.Sort(undocumented); len(undocumented) > 0 {
		t.Errorf("docs/mcp.md does not name these refusedOnPurpose checks; document each with its reason: %s",
			strings.Join(undocumented, ", "))
	}

	s := newStack(t)
	token := s.mintAccess(t, "conformance-transparency", handleScopes...)
	upstreamURL, _ := s.mountEverything(t, token)
	proxy := s.tokenProxy(t, s.cfg.HostedURL(handle), token)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := func(mcpURL, version string) map[string]map[string]conformanceCheck {
		t.Helper()
		start := time.Now()
		results, out, runErr := s.runServerSuite(ctx, t, mcpURL, "--suite", "all", "--spec-version", version)
		if ctx.Err() != nil || len(results) == 0 {
			t.Fatalf("conformance server --spec-version %s against %s: %d results (%v, %v):\n%s", version, mcpURL, len(results), runErr, ctx.Err(), out)
		}
		t.Logf("%s: %d scenarios against %s in %s", version, len(results), mcpURL, time.Since(start).Round(time.Millisecond))
		return checksByID(results)
	}

	// observed says, per refusedOnPurpose key, what each version showed;
	// excused is the keys that excused a difference.
	observed, excused := map[string][]string{}, map[string]bool{}
	start := time.Now()
	for _, version := range transparencyVersions {
		direct, through := run(upstreamURL, version), run(proxy, version)
		var differences, refused int
		for _, scenario := range slices.Sorted(maps.Keys(direct)) {
			for _, id := range slices.Sorted(maps.Keys(direct[scenario])) {
				key := scenario + "/" + id
				d := direct[scenario][id]
				thr, ok := through[scenario][id]
				switch _, ran := through[scenario]; {
				case !ran:
					thr = conformanceCheck{ID: id, Status: missingCheck, ErrorMessage: "the scenario wrote no result through the runtime"}
				case !ok:
					thr = conformanceCheck{ID: id, Status: missingCheck, ErrorMessage: "the scenario's result through the runtime has no such check"}
				}
				reason, isRefused := refusedOnPurpose[key]
				if isRefused {
					observed[key] = append(observed[key], fmt.Sprintf("at %s directly %s, through the runtime %s", version, d.Status, thr.Status))
				}
				switch {
				case d.Status != "SUCCESS" || thr.Status == "SUCCESS":
				case isRefused:
					refused++
					excused[key] = true
					t.Logf("%s %s: directly SUCCESS, through the runtime %s (refused on purpose: %s): %s", version, key, thr.Status, reason, thr.ErrorMessage)
				default:
					differences++
					t.Errorf("%s %s: directly SUCCESS, through the runtime %s: %s", version, key, thr.Status, thr.ErrorMessage)
				}
			}
		}
		directScenarios, directChecks := suiteSummary(direct)
		throughScenarios, throughChecks := suiteSummary(through)
		if directChecks == 0 {
			t.Errorf("%s: no check succeeds against server-everything directly, so the comparison proves nothing", version)
		}
		t.Logf("%s: %d scenarios; directly %d pass and %d checks succeed, through the runtime %d pass and %d checks succeed; %d checks succeed directly but not through the runtime (%d more refused on purpose)",
			version, len(direct), directScenarios, directChecks, throughScenarios, throughChecks, differences, refused)
	}
	for _, key := range slices.Sorted(maps.Keys(refusedOnPurpose)) {
		if excused[key] {
			continue
		}
		seen := "the suite runs no such check"
		if len(observed[key]) > 0 {
			seen = strings.Join(observed[key], "; ")
		}
		t.Errorf("refusedOnPurpose lists %s (%s), but no check succeeds directly and fails through the runtime (%s): remove it", key, refusedOnPurpose[key], seen)
	}
	t.Logf("the suite ran %d times in %s", 2*len(transparencyVersions), time.Since(start).Round(time.Millisecond))
}

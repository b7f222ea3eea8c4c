package clients_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

// serverScenario says how one server scenario of
// @modelcontextprotocol/conformance 0.2.0-alpha.12 applies to the runtime's
// MCP endpoint for the test handle, whose only toolset is Links: tools
// named {toolset}_{tool}, no prompts or resources, none of the suite's
// fixture tools (test_simple_text, ...), no tasks or skills extension.
// TestConformanceTransparency compares the rest against server-everything.
type serverScenario struct {
	// notApplicable, when set, is why the scenario cannot apply; it is not
	// run.
	notApplicable string
	// expected are the checks of a scenario that runs which end other than
	// SUCCESS (or INFO): check id to the status it must have and why. Every
	// other check must succeed, and an expected check that starts to
	// succeed fails the test until it is removed from here.
	expected map[string]expectedCheck
}

type expectedCheck struct{ status, why string }

const (
	fixtureTool    = "calls one of the suite's fixture tools (test_simple_text, test_image_content, ...); a handle serves only its Toolsets' tools, named {toolset}_{tool}"
	relayRequests  = "calls a fixture tool that sends the client a server-to-client request (sampling, elicitation); Links sends none"
	noResources    = "the Links handle has no resources (TestConformanceTransparency runs the resource scenarios through the runtime against server-everything)"
	noPrompts      = "the Links handle has no prompts (TestConformanceTransparency runs the prompt scenarios through the runtime against server-everything)"
	tasksExtension = "the tasks extension (SEP-2663) is not offered; its checks need the extension and the suite's fixture tools (slow_compute, greet, ...)"
	skillsExt      = "the skills extension (SEP-2640) is not offered; the suite skips every check"
	inputRequired  = "SEP-2322 input-required results need the suite's fixture tools (test_input_required_result_*); the runtime relays no input requests from upstreams"
	diagnosticTool = "not testable here: needs the suite's diagnostic tool %s"
)

var serverScenarios = map[string]serverScenario{
	"server-initialize": {},
	"server-session-lifecycle": {expected: map[string]expectedCheck{
		"server-session-delete-accepted":        {"SKIPPED", "DELETE of a session is answered 405 (allowed by the protocol): sealed session ids stay valid on every replica until they expire"},
		"server-session-terminated-returns-404": {"SKIPPED", "follows from the 405 on DELETE"},
	}},
	"server-stateless": {expected: map[string]expectedCheck{
		"sep-2575-server-rejects-undeclared-capability":              {"FAILURE", fmt.Sprintf(diagnosticTool, "test_missing_capability")},
		"sep-2575-missing-capability-http-400":                       {"FAILURE", fmt.Sprintf(diagnosticTool, "test_missing_capability")},
		"sep-2575-http-server-no-independent-requests-on-stream":     {"FAILURE", fmt.Sprintf(diagnosticTool, "test_streaming_elicitation")},
		"sep-2575-server-no-log-without-loglevel":                    {"FAILURE", fmt.Sprintf(diagnosticTool, "test_logging_tool")},
		"sep-2575-server-sends-prompts-list-changed-on-subscription": {"WARNING", noPrompts + ": the suite's change of the prompt list reaches no toolset"},
		"sep-2575-server-sends-tools-list-changed-on-subscription":   {"WARNING", fmt.Sprintf(diagnosticTool, "test_trigger_tool_change") + " to change the tool list"},
	}},
	"logging-set-level":            {},
	"ping":                         {},
	"completion-complete":          {notApplicable: noPrompts},
	"tools-list":                   {},
	"tools-call-simple-text":       {notApplicable: fixtureTool},
	"tools-call-image":             {notApplicable: fixtureTool},
	"tools-call-audio":             {notApplicable: fixtureTool},
	"tools-call-embedded-resource": {notApplicable: fixtureTool},
	"tools-call-mixed-content":     {notApplicable: fixtureTool},
	"tools-call-with-logging":      {notApplicable: fixtureTool},
	"tools-call-error":             {notApplicable: fixtureTool},
	"tools-call-with-progress":     {notApplicable: fixtureTool},
	"tools-call-sampling":          {notApplicable: relayRequests},
	"tools-call-elicitation":       {notApplicable: relayRequests},
	"json-schema-2020-12":          {notApplicable: fixtureTool},
	"elicitation-sep1034-defaults": {notApplicable: relayRequests},
	"server-sse-polling":           {notApplicable: "tests SSE priming events and polling on POST response streams; the endpoint answers POSTs with JSON, so the suite only reports INFO"},
	"server-sse-multiple-streams":  {},
	"elicitation-sep1330-enums":    {notApplicable: relayRequests},
	"resources-list":               {notApplicable: noResources},
	"resources-read-text":          {notApplicable: noResources},
	"resources-read-binary":        {notApplicable: noResources},
	"resources-templates-read":     {notApplicable: noResources},
	"resources-subscribe":          {notApplicable: noResources},
	"resources-unsubscribe":        {notApplicable: noResources},
	"sep-2164-resource-not-found": {expected: map[string]expectedCheck{
		"sep-2164-data-uri": {"WARNING", "mcp-go's resource-not-found error, which the runtime answers for a URI of no toolset, names no URI in its data"},
	}},
	"sep-2640-skills-directory":     {notApplicable: skillsExt},
	"sep-2640-skills-enumeration":   {notApplicable: skillsExt},
	"sep-2640-skills-manifest":      {notApplicable: skillsExt},
	"prompts-list":                  {notApplicable: noPrompts},
	"prompts-get-simple":            {notApplicable: noPrompts},
	"prompts-get-with-args":         {notApplicable: noPrompts},
	"prompts-get-embedded-resource": {notApplicable: noPrompts},
	"prompts-get-with-image":        {notApplicable: noPrompts},
	"dns-rebinding-protection": {expected: map[string]expectedCheck{
		"localhost-host-valid-accepted": {"FAILURE", "the scenario is for plain-HTTP localhost servers and expects Origin http://127.0.0.1:PORT accepted; the endpoint accepts only the platform's own https origins (403 forbidden_origin). The rebinding check itself (evil.example.com refused) must pass"},
	}},
	"caching": {expected: map[string]expectedCheck{
		"sep-2549-resources-read-caching-hints": {"SKIPPED", noResources},
	}},
	"http-header-validation":                        {},
	"http-custom-header-server-validation":          {notApplicable: "needs a tool whose input schema has x-mcp-header parameters; the handle's tools (Links) have none"},
	"tasks-lifecycle":                               {notApplicable: tasksExtension},
	"tasks-capability-negotiation":                  {notApplicable: tasksExtension},
	"tasks-wire-fields":                             {notApplicable: tasksExtension},
	"tasks-request-state-removal":                   {notApplicable: tasksExtension},
	"tasks-mrtr-input":                              {notApplicable: tasksExtension},
	"tasks-request-headers":                         {notApplicable: tasksExtension},
	"tasks-dispatch-and-envelope":                   {notApplicable: tasksExtension},
	"tasks-status-notifications":                    {notApplicable: tasksExtension},
	"tasks-required-task-error":                     {notApplicable: tasksExtension},
	"tasks-mrtr-composition":                        {notApplicable: tasksExtension},
	"input-required-result-basic-elicitation":       {notApplicable: inputRequired},
	"input-required-result-basic-sampling":          {notApplicable: inputRequired},
	"input-required-result-basic-list-roots":        {notApplicable: inputRequired},
	"input-required-result-request-state":           {notApplicable: inputRequired},
	"input-required-result-multiple-input-requests": {notApplicable: inputRequired},
	"input-required-result-multi-round":             {notApplicable: inputRequired},
	"input-required-result-missing-input-response":  {notApplicable: inputRequired},
	"input-required-result-non-tool-request":        {notApplicable: inputRequired},
	"input-required-result-result-type":             {notApplicable: inputRequired},
	"input-required-result-unsupported-methods":     {},
	"input-required-result-tampered-state":          {notApplicable: inputRequired},
	"input-required-result-capability-check":        {notApplicable: inputRequired},
	"input-required-result-ignore-extra-params":     {notApplicable: inputRequired},
	"input-required-result-validate-input":          {notApplicable: inputRequired},
}

// conformanceSuite is the suite's command line program, relative to
// clientsDir.
const conformanceSuite = "node_modules/@modelcontextprotocol/conformance/dist/index.js"

// conformanceCheck is one check of a scenario's checks.json.
type conformanceCheck struct{ ID, Status, ErrorMessage string }

// readChecks reads a scenario's checks.json, which must hold a check.
func readChecks(file string) ([]conformanceCheck, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var checks []conformanceCheck
	if err := json.Unmarshal(data, &checks); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(checks) == 0 {
		return nil, fmt.Errorf("%s: no checks", file)
	}
	return checks, nil
}

// runServerSuite runs `conformance server` against mcpURL with more
// arguments (--scenario, --spec-version, ...) and returns the checks of
// every scenario that ran, by scenario, what the suite printed and how it
// exited (non-zero when a check fails: the suite's ordinary report). A
// result it cannot read fails the test.
func (s *stack) runServerSuite(ctx context.Context, t *testing.T, mcpURL string, args ...string) (map[string][]conformanceCheck, string, error) {
	t.Helper()
	outDir := t.TempDir()
	cmd := s.nodeCommand(ctx, nil, append([]string{conformanceSuite, "server", "--url", mcpURL, "--output-dir", outDir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	files, _ := filepath.Glob(filepath.Join(outDir, "*", "checks.json"))
	results := map[string][]conformanceCheck{}
	for _, f := range files {
		checks, err := readChecks(f)
		if err != nil {
			t.Fatalf("%v (the suite exited with %v):\n%s", err, runErr, out.String())
		}
		results[scenarioOf(filepath.Base(filepath.Dir(f)))] = checks
	}
	return results, out.String(), runErr
}

var listedScenario = regexp.MustCompile(`(?m)^\s+- (\S+) \[`)

// TestConformanceServer runs the server scenarios of the conformance suite
// that apply against the hosted URL of the handle, through a reverse proxy
// that adds a bearer token (the suite cannot do OAuth for server
// scenarios): a token minted with the runtime's keys for a grant of alice
// on acme with every scope the handle offers (those of the Links tools
// included). The scenarios the suite
// lists must all be in serverScenarios; those that apply must pass except
// for the checks listed there, each with its reason.
func TestConformanceServer(t *testing.T) {
	s := newStack(t)
	token := s.mintAccess(t, "conformance-server", handleScopes...)
	s.waitForTools(t, s.cfg.HostedURL(handle), token, linksTools)
	proxy := s.tokenProxy(t, s.cfg.HostedURL(handle), token)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	listed, err := s.nodeCommand(ctx, nil, conformanceSuite, "list", "--server").Output()
	if err != nil {
		t.Fatalf("conformance list --server: %v", err)
	}
	var names []string
	for _, m := range listedScenario.FindAllStringSubmatch(string(listed), -1) {
		names = append(names, m[1])
	}
	known := slices.Sorted(func(yield func(string) bool) {
		for name := range serverScenarios {
			if !yield(name) {
				return
			}
		}
	})
	if slices.Sort(names); !slices.Equal(names, known) {
		t.Fatalf("the suite lists the server scenarios\n%v\nserverScenarios classifies\n%v", names, known)
	}

	var ran, skipped int
	start := time.Now()
	for _, name := range names {
		sc := serverScenarios[name]
		if sc.notApplicable != "" {
			skipped++
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			results, out, runErr := s.runServerSuite(ctx, t, proxy, "--scenario", name)
			checks := results[name]
			if len(results) != 1 || len(checks) == 0 {
				t.Fatalf("results of %v, want %s (%v):\n%s", slices.Sorted(maps.Keys(results)), name, runErr, out)
			}
			seen := map[string]bool{}
			for _, c := range checks {
				want, isExpected := sc.expected[c.ID]
				switch {
				case isExpected && c.Status == want.status:
					seen[c.ID] = true
					t.Logf("%s %s (expected: %s)", c.ID, c.Status, want.why)
				case isExpected:
					t.Errorf("%s is %s, expected %s (%s); if it now passes, remove it from serverScenarios: %s", c.ID, c.Status, want.status, want.why, c.ErrorMessage)
				case c.Status == "SUCCESS" || c.Status == "INFO":
				default:
					t.Errorf("%s is %s: %s", c.ID, c.Status, c.ErrorMessage)
				}
			}
			for id := range sc.expected {
				if !seen[id] {
					t.Errorf("expected check %s did not run", id)
				}
			}
			if len(sc.expected) == 0 && runErr != nil {
				t.Errorf("conformance server exited with %v", runErr)
			}
			if t.Failed() {
				t.Logf("--- conformance output\n%s", out)
			}
		})
	}
	t.Logf("%d scenarios ran in %s, %d not applicable", ran, time.Since(start).Round(time.Millisecond), skipped)
}

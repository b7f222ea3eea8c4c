package toolsets_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/endpoint"
	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// The Manager is the endpoint's tools as it is.
var _ endpoint.Tools = (*toolsets.Manager)(nil)

func toKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }

var linksScopes = &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}

func TestToolScopes(t *testing.T) {
	spec := &mcpv1alpha1.ToolsetSpec{Scopes: linksScopes, Tools: []mcpv1alpha1.ToolOverride{
		{Name: "purge", Scopes: []mcpv1alpha1.Scope{"links.write", "analytics.read"}},
		{Name: "peek", Scopes: []mcpv1alpha1.Scope{"analytics.read"}},
	}}
	for _, tc := range []struct {
		name     string
		spec     *mcpv1alpha1.ToolsetSpec
		tool     mcp.Tool
		expected []mcpv1alpha1.Scope
	}{
		{"read-only tool needs read", spec, mcp.NewTool("list", mcp.WithReadOnlyHintAnnotation(true)), []mcpv1alpha1.Scope{"links.read"}},
		{"readOnlyHint false needs write", spec, mcp.NewTool("create", mcp.WithReadOnlyHintAnnotation(false)), []mcpv1alpha1.Scope{"links.write"}},
		{"no hint needs write", spec, mcp.NewTool("create"), []mcpv1alpha1.Scope{"links.write"}},
		{"override replaces write", spec, mcp.NewTool("purge"), []mcpv1alpha1.Scope{"links.write", "analytics.read"}},
		{"override replaces read", spec, mcp.NewTool("peek", mcp.WithReadOnlyHintAnnotation(true)), []mcpv1alpha1.Scope{"analytics.read"}},
		{"no scopes declared", &mcpv1alpha1.ToolsetSpec{}, mcp.NewTool("list", mcp.WithReadOnlyHintAnnotation(true)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := toolsets.ToolScopes(tc.spec, &tc.tool); !slices.Equal(got, tc.expected) {
				t.Errorf("scopes = %v, want %v", got, tc.expected)
			}
		})
	}
}

func TestToolsAreListedNamedAndFilteredByHandle(t *testing.T) {
	minter := newMinter(t)
	links := startUpstream(t, echoTool("list_links", ptr(true)), echoTool("create_link", nil), echoTool("delete_link", ptr(true)))
	notes := startUpstream(t, echoTool("search", ptr(true)))
	createToolset(t, "links1", mcpv1alpha1.ToolsetSpec{URL: links.URL, Scopes: linksScopes, Tools: []mcpv1alpha1.ToolOverride{
		{Name: "delete_link", Scopes: []mcpv1alpha1.Scope{"links.write"}},
	}})
	createToolset(t, "notes1", mcpv1alpha1.ToolsetSpec{URL: notes.URL, Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"knowledge.query"}}})
	m := newManager(t, minter)
	for _, name := range []string{"links1", "notes1"} {
		if err := m.Refresh(context.Background(), name); err != nil {
			t.Fatalf("refresh %s: %v", name, err)
		}
	}

	want := map[string]toolsets.Tool{
		"links1_list_links":  {Toolset: "links1", Upstream: "list_links", Scopes: []mcpv1alpha1.Scope{"links.read"}},
		"links1_create_link": {Toolset: "links1", Upstream: "create_link", Scopes: []mcpv1alpha1.Scope{"links.write"}},
		"links1_delete_link": {Toolset: "links1", Upstream: "delete_link", Scopes: []mcpv1alpha1.Scope{"links.write"}},
		"notes1_search":      {Toolset: "notes1", Upstream: "search", Scopes: []mcpv1alpha1.Scope{"knowledge.query"}},
	}
	got := m.Tools()
	if len(got) != len(want) {
		t.Fatalf("tools = %v, want %v", got, want)
	}
	for name, w := range want {
		g := got[name]
		if g.Toolset != w.Toolset || g.Upstream != w.Upstream || !slices.Equal(g.Scopes, w.Scopes) {
			t.Errorf("%s = %+v, want %+v", name, g, w)
		}
	}
	// The upstream's description, schema and annotations are kept.
	st := m.Server.GetTool("links1_list_links")
	if st == nil || st.Tool.Description != "the list_links tool" || st.Tool.Annotations.ReadOnlyHint == nil || !*st.Tool.Annotations.ReadOnlyHint {
		t.Fatalf("links1_list_links = %+v", st)
	}
	if _, ok := st.Tool.InputSchema.Properties["q"]; !ok {
		t.Errorf("input schema lost its properties: %+v", st.Tool.InputSchema)
	}

	linksOnly, both, notesOnly := handle("acme", "links1"), handle("beta", "links1", "notes1"), handle("gamma", "notes1")
	srv := serve(t, m, linksOnly, both, notesOnly)
	if got := listNames(t, connect(t, srv, "acme")); !slices.Equal(got, []string{"links1_create_link", "links1_delete_link", "links1_list_links"}) {
		t.Errorf("acme lists %v", got)
	}
	if got := listNames(t, connect(t, srv, "beta")); !slices.Equal(got, []string{"links1_create_link", "links1_delete_link", "links1_list_links", "notes1_search"}) {
		t.Errorf("beta lists %v", got)
	}
	if got := listNames(t, connect(t, srv, "")); len(got) != 0 {
		t.Errorf("a request without a principal lists %v", got)
	}
	// The filter also guards calls: gamma cannot call a links tool.
	_, err := connect(t, srv, "gamma").CallTool(context.Background(), callReq("links1_list_links", nil))
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("gamma calling links1_list_links: err = %v, want tool not found", err)
	}

	if tool, ok := m.Lookup(linksOnly, "links1_list_links"); !ok || tool.Upstream != "list_links" || !slices.Equal(tool.Scopes, []mcpv1alpha1.Scope{"links.read"}) {
		t.Errorf("Lookup(acme, links1_list_links) = %+v, %v", tool, ok)
	}
	if scopes, ok := m.ToolScopes(linksOnly, "links1_delete_link"); !ok || !slices.Equal(scopes, []mcpv1alpha1.Scope{"links.write"}) {
		t.Errorf("ToolScopes(acme, links1_delete_link) = %v, %v (the override, not the read rule)", scopes, ok)
	}
	if _, ok := m.Lookup(notesOnly, "links1_list_links"); ok {
		t.Error("Lookup finds a tool of a toolset the handle does not name")
	}
	if _, ok := m.Lookup(linksOnly, "links1_nope"); ok {
		t.Error("Lookup finds a tool that does not exist")
	}

	ts := getToolset(t, "links1")
	c := meta.FindStatusCondition(ts.Status.Conditions, mcpv1alpha1.ToolsetConditionReachable)
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != ts.Generation || ts.Status.ToolCount != 3 || ts.Status.ObservedGeneration != ts.Generation {
		t.Errorf("status = %+v", ts.Status)
	}
	// The same answer writes nothing.
	rv := ts.ResourceVersion
	if err := m.Refresh(context.Background(), "links1"); err != nil {
		t.Fatal(err)
	}
	if got := getToolset(t, "links1").ResourceVersion; got != rv {
		t.Errorf("an unchanged refresh wrote the status (resourceVersion %s -> %s)", rv, got)
	}

	// Listing used the runtime's own token: no handle's user, no scopes.
	for _, r := range links.requests() {
		if strings.Contains(r.auth, clientToken) {
			t.Fatalf("the upstream saw the client's token on %s", r.method)
		}
		if r.method == "POST tools/list" {
			claims := verify(t, minter, r.auth)
			if claims.Subject != toolsets.SystemSubject || claims.Scope != "" || !slices.Equal(claims.Audience, []string{links.URL}) {
				t.Errorf("tools/list token claims = %+v", claims)
			}
		}
	}
}

func callReq(name string, args map[string]any) mcp.CallToolRequest {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	return req
}

func TestCallIsForwardedWithAMintedToken(t *testing.T) {
	minter := newMinter(t)
	links := startUpstream(t, echoTool("create_link", nil))
	createToolset(t, "links2", mcpv1alpha1.ToolsetSpec{URL: links.URL, Scopes: linksScopes})
	m := newManager(t, minter)
	if err := m.Refresh(context.Background(), "links2"); err != nil {
		t.Fatal(err)
	}
	acme := handle("acme", "links2")
	c := connect(t, serve(t, m, acme), "acme")
	res, err := c.CallTool(context.Background(), callReq("links2_create_link", map[string]any{"q": "https://example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || resultText(res) != "create_link:https://example.com" {
		t.Fatalf("result = %q (isError %v)", resultText(res), res.IsError)
	}
	var calls int
	for _, r := range links.requests() {
		if strings.Contains(r.auth, clientToken) {
			t.Fatalf("the upstream saw the client's token on %s", r.method)
		}
		if r.method != "POST tools/call" {
			continue
		}
		calls++
		claims := verify(t, minter, r.auth)
		if claims.Handle != "acme" || claims.Subject != "https://idp.test#alice" || claims.ClientID != "client-1" || claims.Grant != "grant-1" ||
			claims.Scope != "mcp.connect links.read" || !slices.Equal(claims.Audience, []string{links.URL}) || claims.Issuer != "https://issuer.test" {
			t.Errorf("tools/call token claims = %+v", claims)
		}
	}
	if calls != 1 {
		t.Errorf("the upstream saw %d tools/call, want 1", calls)
	}

	// The handler itself refuses a handle that does not name the toolset
	// (in case the filter is not installed).
	text, isError := callText(t, m, principalCtx(handle("other", "notes")), "links2_create_link", nil)
	if !isError || !strings.Contains(text, `"links2"`) {
		t.Errorf("call from a handle without the toolset = %q (isError %v)", text, isError)
	}
	text, isError = callText(t, m, context.Background(), "links2_create_link", nil)
	if !isError || !strings.Contains(text, "no authenticated handle") {
		t.Errorf("call without a principal = %q (isError %v)", text, isError)
	}
}

func TestUpstreamFailuresBecomeToolErrors(t *testing.T) {
	minter := newMinter(t)
	slow := server.ServerTool{Tool: mcp.NewTool("slow"), Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
		}
		return mcp.NewToolResultText("late"), nil
	}}
	up := startUpstream(t, echoTool("echo", nil), slow, echoTool("vanishing", nil))
	createToolset(t, "flaky", mcpv1alpha1.ToolsetSpec{URL: up.URL, Timeout: &metav1.Duration{Duration: time.Second}})
	m := newManager(t, minter)
	if err := m.Refresh(context.Background(), "flaky"); err != nil {
		t.Fatal(err)
	}
	ctx := principalCtx(handle("acme", "flaky"))

	start := time.Now()
	text, isError := callText(t, m, ctx, "flaky_slow", nil)
	if took := time.Since(start); !isError || !strings.Contains(text, `toolset "flaky" did not answer within 1s`) || took > 3*time.Second {
		t.Errorf("hanging upstream: %q (isError %v) after %s", text, isError, took)
	}

	up.setHook(func(w http.ResponseWriter, method string) bool {
		if method != "tools/call" {
			return false
		}
		http.Error(w, "boom", http.StatusInternalServerError)
		return true
	})
	text, isError = callText(t, m, ctx, "flaky_echo", map[string]any{"q": "x"})
	if !isError || !strings.Contains(text, `toolset "flaky"`) || !strings.Contains(text, "500") {
		t.Errorf("upstream 500: %q (isError %v)", text, isError)
	}

	up.setHook(func(w http.ResponseWriter, method string) bool {
		if method != "tools/call" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{{{ not json"))
		return true
	})
	text, isError = callText(t, m, ctx, "flaky_echo", map[string]any{"q": "x"})
	if !isError || !strings.Contains(text, `toolset "flaky"`) {
		t.Errorf("upstream garbage: %q (isError %v)", text, isError)
	}

	// A protocol error: the upstream no longer has the tool.
	up.setHook(nil)
	up.mcp.DeleteTools("vanishing")
	text, isError = callText(t, m, ctx, "flaky_vanishing", nil)
	if !isError || !strings.Contains(text, `toolset "flaky"`) || !strings.Contains(text, "vanishing") {
		t.Errorf("upstream protocol error: %q (isError %v)", text, isError)
	}

	// And the upstream still works afterwards.
	text, isError = callText(t, m, ctx, "flaky_echo", map[string]any{"q": "ok"})
	if isError || text != "echo:ok" {
		t.Errorf("after the failures: %q (isError %v)", text, isError)
	}
}

func TestCallsInFlightAreBounded(t *testing.T) {
	minter := newMinter(t)
	release := make(chan struct{})
	var inFlight atomic.Int32
	block := server.ServerTool{Tool: mcp.NewTool("block"), Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		inFlight.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return mcp.NewToolResultText("done"), nil
	}}
	up := startUpstream(t, block)
	createToolset(t, "busy", mcpv1alpha1.ToolsetSpec{URL: up.URL})
	m := newManager(t, minter)
	m.MaxInFlight = 3
	if err := m.Refresh(context.Background(), "busy"); err != nil {
		t.Fatal(err)
	}
	ctx := principalCtx(handle("acme", "busy"))
	var wg sync.WaitGroup
	results := make([]string, 3)
	for i := range 3 {
		wg.Go(func() {
			text, isError := callText(t, m, ctx, "busy_block", nil)
			if isError {
				text = "error: " + text
			}
			results[i] = text
		})
	}
	waitfor.Eventually(t, 5*time.Second, "three calls in flight upstream", func() error {
		if n := inFlight.Load(); n != 3 {
			return errorf("%d in flight", n)
		}
		return nil
	})
	start := time.Now()
	text, isError := callText(t, m, ctx, "busy_block", nil)
	if took := time.Since(start); !isError || !strings.Contains(text, `toolset "busy" is busy`) || took > time.Second {
		t.Errorf("fourth call: %q (isError %v) after %s", text, isError, took)
	}
	close(release)
	wg.Wait()
	for i, r := range results {
		if r != "done" {
			t.Errorf("call %d: %q", i, r)
		}
	}
	if n := inFlight.Load(); n != 3 {
		t.Errorf("the upstream saw %d calls, want 3 (the refused one must not reach it)", n)
	}
}

func TestUnreachableUpstream(t *testing.T) {
	minter := newMinter(t)
	up := startUpstream(t, echoTool("echo", ptr(true)), echoTool("other", ptr(true)))
	// Never reachable: a server that is already closed.
	dead := startUpstream(t)
	dead.Close()
	createToolset(t, "gone", mcpv1alpha1.ToolsetSpec{URL: dead.URL})
	createToolset(t, "down", mcpv1alpha1.ToolsetSpec{URL: up.URL})
	m := newManager(t, minter)

	if err := m.Refresh(context.Background(), "gone"); err == nil || !strings.Contains(err.Error(), `toolset "gone"`) {
		t.Fatalf("refresh of an unreachable upstream: %v", err)
	}
	if tools := m.Tools(); len(tools) != 0 {
		t.Errorf("tools of an upstream never reached: %v", tools)
	}
	ts := getToolset(t, "gone")
	c := meta.FindStatusCondition(ts.Status.Conditions, mcpv1alpha1.ToolsetConditionReachable)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != mcpv1alpha1.ToolsetReasonUpstreamError || !strings.Contains(c.Message, "connection refused") || ts.Status.ToolCount != 0 {
		t.Errorf("status of an unreachable toolset = %+v", ts.Status)
	}

	// An upstream that goes down keeps its last good list; its status says
	// it is down, and calls say so too.
	if err := m.Refresh(context.Background(), "down"); err != nil {
		t.Fatal(err)
	}
	up.setHook(func(w http.ResponseWriter, _ string) bool {
		http.Error(w, "upstream maintenance", http.StatusServiceUnavailable)
		return true
	})
	if err := m.Refresh(context.Background(), "down"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("refresh of an upstream answering 503: %v", err)
	}
	if _, ok := m.Tools()["down_echo"]; !ok {
		t.Error("the last good list was dropped")
	}
	ts = getToolset(t, "down")
	c = meta.FindStatusCondition(ts.Status.Conditions, mcpv1alpha1.ToolsetConditionReachable)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != mcpv1alpha1.ToolsetReasonUpstreamError || !strings.Contains(c.Message, "upstream maintenance") || ts.Status.ToolCount != 2 {
		t.Errorf("status of a toolset gone down = %+v", ts.Status)
	}
	text, isError := callText(t, m, principalCtx(handle("acme", "down")), "down_echo", nil)
	if !isError || !strings.Contains(text, `toolset "down"`) || !strings.Contains(text, "503") {
		t.Errorf("call to a down upstream: %q (isError %v)", text, isError)
	}
	// Back up: Reachable again, the transition time moves.
	up.setHook(nil)
	if err := m.Refresh(context.Background(), "down"); err != nil {
		t.Fatal(err)
	}
	ts = getToolset(t, "down")
	if c := meta.FindStatusCondition(ts.Status.Conditions, mcpv1alpha1.ToolsetConditionReachable); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("status after recovery = %+v", ts.Status)
	}
}

// TestToolsetChangesFollowTheInformer runs the Manager as the runtime does,
// on an informer cache: a Toolset created, changed (spec and upstream list)
// and deleted.
func TestToolsetChangesFollowTheInformer(t *testing.T) {
	minter := newMinter(t)
	first := startUpstream(t, echoTool("list_links", ptr(true)), echoTool("create_link", nil))
	second := startUpstream(t, echoTool("search", ptr(true)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	informers, err := cache.New(env.Config, cache.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	m := newManager(t, minter)
	m.Reader = informers
	if err := m.Start(ctx, informers); err != nil {
		t.Fatal(err)
	}
	acme := handle("acme", "live")
	c := connect(t, serve(t, m, acme), "acme")
	hasTools := func(want ...string) func() error {
		return func() error {
			if got := listNames(t, c); !slices.Equal(got, want) {
				return errorf("lists %v, want %v", got, want)
			}
			return nil
		}
	}

	ts := createToolset(t, "live", mcpv1alpha1.ToolsetSpec{URL: first.URL, Scopes: linksScopes})
	waitfor.Eventually(t, 10*time.Second, "tools of a new Toolset", hasTools("live_create_link", "live_list_links"))

	// A spec change (an override) is applied.
	updateToolset(t, "live", func(ts *mcpv1alpha1.Toolset) {
		ts.Spec.Tools = []mcpv1alpha1.ToolOverride{{Name: "list_links", Scopes: []mcpv1alpha1.Scope{"analytics.read"}}}
	})
	waitfor.Eventually(t, 10*time.Second, "the override", func() error {
		if tool, _ := m.Lookup(acme, "live_list_links"); !slices.Equal(tool.Scopes, []mcpv1alpha1.Scope{"analytics.read"}) {
			return errorf("scopes %v", tool.Scopes)
		}
		return nil
	})

	// The upstream adds a tool and says so (tools/list_changed), on the
	// stream the runtime opened with its own token.
	waitfor.Eventually(t, 10*time.Second, "the tools/list_changed stream", func() error {
		for _, r := range first.requests() {
			if r.method == "POST subscriptions/listen" {
				if claims := verify(t, minter, r.auth); claims.Subject != toolsets.SystemSubject {
					t.Errorf("subscriptions/listen token claims = %+v", claims)
				}
				return nil
			}
		}
		return errorf("no subscriptions/listen request")
	})
	first.mcp.AddTool(mcp.NewTool("archive_link"), echoTool("archive_link", nil).Handler)
	waitfor.Eventually(t, 10*time.Second, "a tool the upstream added", hasTools("live_archive_link", "live_create_link", "live_list_links"))

	// A new URL: another server's tools replace the old ones.
	updateToolset(t, "live", func(ts *mcpv1alpha1.Toolset) { ts.Spec.URL = second.URL })
	waitfor.Eventually(t, 10*time.Second, "the tools of the new URL", hasTools("live_search"))
	waitfor.Eventually(t, 10*time.Second, "the status of the new URL", func() error {
		ts := getToolset(t, "live")
		if ts.Status.ObservedGeneration != ts.Generation || ts.Status.ToolCount != 1 {
			return errorf("status %+v at generation %d", ts.Status, ts.Generation)
		}
		return nil
	})

	if err := env.Client.Delete(ctx, ts); err != nil {
		t.Fatal(err)
	}
	waitfor.Eventually(t, 10*time.Second, "tools of a deleted Toolset", hasTools())
	waitfor.Eventually(t, 10*time.Second, "tools deleted from the server", func() error {
		if tool := m.Server.GetTool("live_search"); tool != nil {
			return errorf("live_search is still registered")
		}
		return nil
	})
	if _, ok := m.Lookup(acme, "live_search"); ok {
		t.Error("Lookup finds a tool of a deleted Toolset")
	}
}

// Upstream tokens are reused within TokenReuse for the same grant and
// toolset, and minted afresh after it or for another grant.
func TestUpstreamTokensAreReused(t *testing.T) {
	minter := newMinter(t)
	links := startUpstream(t, echoTool("create_link", nil))
	createToolset(t, "links-reuse", mcpv1alpha1.ToolsetSpec{URL: links.URL, Scopes: linksScopes})
	m := newManager(t, minter)
	now := time.Now()
	m.Now = func() time.Time { return now }
	m.TokenReuse = 20 * time.Second
	if err := m.Refresh(context.Background(), "links-reuse"); err != nil {
		t.Fatal(err)
	}
	acme := handle("acme", "links-reuse")
	call := func(ctx context.Context) {
		t.Helper()
		if text, isError := callText(t, m, ctx, "links-reuse_create_link", map[string]any{"q": "x"}); isError {
			t.Fatalf("call: %s", text)
		}
	}
	call(principalCtx(acme))
	now = now.Add(10 * time.Second)
	call(principalCtx(acme))
	now = now.Add(15 * time.Second) // 25 s after the first mint
	call(principalCtx(acme))
	other := principalCtx(acme)
	p := principal.FromContext(other)
	p.Token.Grant = "grant-2"
	call(other)

	var auths []string
	for _, r := range links.requests() {
		if r.method == "POST tools/call" {
			auths = append(auths, r.auth)
		}
	}
	if len(auths) != 4 {
		t.Fatalf("the upstream saw %d calls, want 4", len(auths))
	}
	if auths[0] != auths[1] {
		t.Error("a second call within TokenReuse minted a new token")
	}
	if auths[2] == auths[1] {
		t.Error("a call after TokenReuse reused the old token")
	}
	if auths[3] == auths[2] || verify(t, minter, auths[3]).Grant != "grant-2" {
		t.Error("another grant's call reused a token")
	}
}

package toolsets_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// startLibrary starts an upstream (2026-07-28) with one tool, one prompt
// and one resource, whose resources/list answers may be kept for a minute
// by anyone (cacheScope public).
func startLibrary(t *testing.T) *fakeUpstream {
	t.Helper()
	s := server.NewMCPServer("library", "1.0.0", server.WithToolCapabilities(true), server.WithPromptCapabilities(true),
		server.WithResourceCapabilities(false, true), server.WithMethodCacheHints(mcp.MethodResourcesList, 60000, mcp.CacheScopePublic))
	s.AddTools(echoTool("lookup", ptr(true)))
	s.AddPrompt(mcp.NewPrompt("summarize", mcp.WithArgument("topic")), func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return mcp.NewGetPromptResult("summary", []mcp.PromptMessage{
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("summarize "+req.Params.Arguments["topic"])),
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewResourceLink("books://catalogue", "catalogue", "", "text/plain")),
		}), nil
	})
	s.AddResource(mcp.NewResource("books://catalogue", "catalogue", mcp.WithMIMEType("text/plain")), func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "text/plain", Text: "three books"}}, nil
	})
	return startServer(t, s)
}

// TestPromptsAndResources: a toolset's prompts are shown only to the
// handles that use it, under {toolset}_{prompt}, and its resources under
// toolset:{toolset}:{uri}, to those holding its read scopes; what they
// answer names the runtime's URIs, and a list page the upstream marks
// public is fetched once for every caller until its ttlMs ends.
func TestPromptsAndResources(t *testing.T) {
	u := startLibrary(t)
	m := newManager(t, newMinter(t))
	createToolset(t, "library", mcpv1alpha1.ToolsetSpec{URL: u.URL, Scopes: linksScopes})
	if err := m.Refresh(context.Background(), "library"); err != nil {
		t.Fatal(err)
	}
	reader, stranger := handle("acme", "library"), handle("beta")
	srv := serve(t, m, reader, stranger)
	c, other := connect(t, srv, "acme"), connect(t, srv, "beta")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if got := promptNames(t, c); !slices.Equal(got, []string{"library_summarize"}) {
		t.Errorf("acme's prompts %v; want [library_summarize]", got)
	}
	if got := promptNames(t, other); len(got) != 0 {
		t.Errorf("beta, which does not use the toolset, sees prompts %v", got)
	}
	get := mcp.GetPromptRequest{}
	get.Params.Name = "library_summarize"
	get.Params.Arguments = map[string]string{"topic": "tea"}
	res, err := c.GetPrompt(ctx, get)
	if err != nil || len(res.Messages) != 2 || mcp.GetTextFromContent(res.Messages[0].Content) != "summarize tea" {
		t.Fatalf("prompts/get: %v, %+v", err, res)
	}
	if link, ok := res.Messages[1].Content.(mcp.ResourceLink); !ok || link.URI != "toolset:library:books://catalogue" {
		t.Errorf("the prompt's resource link is %+v; want the URI toolset:library:books://catalogue", res.Messages[1].Content)
	}
	if _, err := other.GetPrompt(ctx, get); err == nil {
		t.Error("beta got acme's toolset's prompt")
	}

	listed := func(c *mcpclient.Client) []string {
		t.Helper()
		res, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var uris []string
		for _, r := range res.Resources {
			uris = append(uris, r.URI)
		}
		return uris
	}
	const uri = "toolset:library:books://catalogue"
	for range 3 {
		if got := listed(c); !slices.Equal(got, []string{uri}) {
			t.Fatalf("acme's resources %v; want [%s]", got, uri)
		}
	}
	if got := listed(other); len(got) != 0 {
		t.Errorf("beta sees resources %v", got)
	}
	if n := countRequests(u, "POST resources/list"); n != 1 {
		t.Errorf("the upstream answered resources/list %d times for 3 lists within its ttlMs; want 1", n)
	}
	read, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: uri}})
	if err != nil || len(read.Contents) != 1 {
		t.Fatalf("resources/read: %v", err)
	}
	if text, ok := read.Contents[0].(mcp.TextResourceContents); !ok || text.URI != uri || text.Text != "three books" {
		t.Errorf("resources/read %s: %+v", uri, read.Contents[0])
	}
	if _, err := other.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: uri}}); err == nil {
		t.Error("beta read a resource of a toolset it does not use")
	}

	// The prompts go when the toolset goes.
	m.Remove("library")
	waitfor.Eventually(t, 10*time.Second, "the prompts of a removed toolset to go", func() error {
		if got := promptNames(t, c); len(got) != 0 {
			return errorf("prompts %v", got)
		}
		return nil
	})
}

func promptNames(t *testing.T, c *mcpclient.Client) []string {
	t.Helper()
	res, err := c.ListPrompts(context.Background(), mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range res.Prompts {
		names = append(names, p.Name)
	}
	return names
}

func countRequests(u *fakeUpstream, method string) int {
	n := 0
	for _, r := range u.requests() {
		if r.method == method {
			n++
		}
	}
	return n
}

// TestResourceURIs: the runtime's URIs split back to the toolset and the
// upstream's URI, whatever the upstream URI holds.
func TestResourceURIs(t *testing.T) {
	for _, upstream := range []string{"books://catalogue", "file:///a:b/c", "urn:isbn:0451450523", "demo://x/{id}"} {
		uri := toolsets.ResourceURI("library", upstream)
		toolset, back, ok := toolsets.SplitResourceURI(uri)
		if !ok || toolset != "library" || back != upstream || !strings.HasPrefix(uri, "toolset:library:") {
			t.Errorf("%s → %s → %q %q %v", upstream, uri, toolset, back, ok)
		}
	}
	for _, bad := range []string{"books://catalogue", "toolset:", "toolset:library", "toolset::books://x", "toolset:library:"} {
		if toolset, back, ok := toolsets.SplitResourceURI(bad); ok {
			t.Errorf("%q split into %q %q", bad, toolset, back)
		}
	}
}

// TestLogMessages: what an upstream (here on 2025-11-25) logs while it
// answers a forwarded call goes to the client of that call, at the level
// that client set, and to no other client.
func TestLogMessages(t *testing.T) {
	s := server.NewMCPServer("chatty", "1.0.0", server.WithToolCapabilities(true), server.WithLogging())
	s.AddTool(mcp.NewTool("work"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		srv := server.ServerFromContext(ctx)
		_ = srv.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelInfo, "chatty", "working on it"))
		_ = srv.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelError, "chatty", "it broke"))
		// Working a moment after logging, as a real tool would: mcp-go's
		// server may drop a notification sent right before the answer
		// (the race relay.go's flushed works around on the runtime's side).
		time.Sleep(50 * time.Millisecond)
		return mcp.NewToolResultText("done"), nil
	})
	u := startServer(t, s, server.WithStreamableHTTPProtocolVersions(mcp.ProtocolVersion20251125))
	m := newManager(t, newMinter(t))
	createToolset(t, "chatty", mcpv1alpha1.ToolsetSpec{URL: u.URL})
	if err := m.Refresh(context.Background(), "chatty"); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, m, handle("acme", "chatty"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logsOf := func(level mcp.LoggingLevel) []string {
		c := connectLegacy(t, srv, "acme")
		var got []string
		var mu sync.Mutex
		c.OnNotification(func(n mcp.JSONRPCNotification) {
			if n.Method == string(mcp.MethodNotificationMessage) {
				mu.Lock()
				got = append(got, fmt.Sprint(n.Params.AdditionalFields["data"]))
				mu.Unlock()
			}
		})
		set := mcp.SetLevelRequest{}
		set.Params.Level = level
		if err := c.SetLevel(ctx, set); err != nil { //nolint:staticcheck // the 2025-11-25 method under test
			t.Fatal(err)
		}
		call := mcp.CallToolRequest{}
		call.Params.Name = "chatty_work"
		if res, err := c.CallTool(ctx, call); err != nil || res.IsError {
			t.Fatalf("chatty_work: %v, %+v", err, res)
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	if got := logsOf(mcp.LoggingLevelInfo); !slices.Equal(got, []string{"working on it", "it broke"}) {
		t.Errorf("a client at level info got %v", got)
	}
	if got := logsOf(mcp.LoggingLevelError); !slices.Equal(got, []string{"it broke"}) {
		t.Errorf("a client at level error got %v", got)
	}
}

// connectLegacy is connect on protocol 2025-11-25, which has
// logging/setLevel.
func connectLegacy(t *testing.T, srv *httptest.Server, handleName string) *mcpclient.Client {
	t.Helper()
	return connectAt(t, srv, handleName, mcp.ProtocolVersion20251125, nil)
}

// connectAt is connect at a protocol version, with the client's and the
// transport's further options; the client lives (and holds its standalone
// stream, if any) until the test ends.
func connectAt(t *testing.T, srv *httptest.Server, handleName, version string, options []mcpclient.ClientOption, transportOptions ...transport.StreamableHTTPCOption) *mcpclient.Client {
	t.Helper()
	transportOptions = append(transportOptions, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + clientToken, "X-Test-Handle": handleName}))
	tr, err := transport.NewStreamableHTTP(srv.URL, transportOptions...)
	if err != nil {
		t.Fatal(err)
	}
	c := mcpclient.NewClient(tr, append(options, mcpclient.WithProtocolVersion(version))...)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Initialize(context.Background(), mcp.InitializeRequest{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// answersAlice answers every elicitation with the name Alice.
type answersAlice struct{}

func (answersAlice) Elicit(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"name": "Alice"}}}, nil
}

// TestInputRequired: an upstream on 2026-07-28 that needs input answers
// input_required (to a tools/call, to a prompts/get); the runtime holds the
// request, asks its own 2026-07-28 client the same way, and the client's
// second request brings the answer upstream and the result back. A request state the runtime did not give
// out reaches nothing.
func TestInputRequired(t *testing.T) {
	s := server.NewMCPServer("asker", "1.0.0", server.WithToolCapabilities(true))
	s.AddTool(mcp.NewTool("greet"), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if answer := server.ElicitationResponse(req.Params.InputResponses, "who"); answer != nil {
			content, _ := answer.Content.(map[string]any)
			return mcp.NewToolResultText(fmt.Sprintf("hello %v", content["name"])), nil
		}
		return server.NewInputRequestBuilder("asked").Elicit("who", mcp.ElicitationParams{Message: "Your name?",
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}}).ToolResult(), nil
	})
	s.AddPrompt(mcp.NewPrompt("introduce"), func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		if answer := server.ElicitationResponse(req.Params.InputResponses, "who"); answer != nil {
			content, _ := answer.Content.(map[string]any)
			return mcp.NewGetPromptResult("introduction", []mcp.PromptMessage{
				mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(fmt.Sprintf("introduce %v", content["name"])))}), nil
		}
		return server.NewInputRequestBuilder("").Elicit("who", mcp.ElicitationParams{Message: "Whom?",
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}}).PromptResult(), nil
	})
	u := startServer(t, s)
	m := newManager(t, newMinter(t))
	createToolset(t, "asker", mcpv1alpha1.ToolsetSpec{URL: u.URL})
	if err := m.Refresh(context.Background(), "asker"); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, m, handle("acme", "asker"))
	c := connectAt(t, srv, "acme", mcp.ProtocolVersion20260728, []mcpclient.ClientOption{mcpclient.WithElicitationHandler(answersAlice{})})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := mcp.CallToolRequest{}
	call.Params.Name = "asker_greet"
	res, err := c.CallTool(ctx, call)
	if err != nil || res.IsError || resultText(res) != "hello Alice" {
		t.Fatalf("asker_greet: %v, %+v", err, res)
	}

	get := mcp.GetPromptRequest{}
	get.Params.Name = "asker_introduce"
	prompt, err := c.GetPrompt(ctx, get)
	if err != nil || len(prompt.Messages) != 1 || mcp.GetTextFromContent(prompt.Messages[0].Content) != "introduce Alice" {
		t.Fatalf("asker_introduce: %v, %+v", err, prompt)
	}

	// mcp-go's client sends only the states it was given: call the handler
	// as the server would.
	modern := server.WithRequestProtocolInfo(principalCtx(handle("acme", "asker")), &server.RequestProtocolInfo{Modern: true, ProtocolVersion: mcp.ProtocolVersion20260728})
	forged := mcp.CallToolRequest{}
	forged.Params.Name = "asker_greet"
	forged.Params.RequestState = "made-up"
	forged.Params.InputResponses = mcp.InputResponses{"who": mcp.NewElicitationInputResponse(mcp.ElicitationResult{})}
	if text, isError := callTextOf(t, m, modern, forged); !isError || !strings.Contains(text, "unknown or over") {
		t.Errorf("a call with a request state the runtime did not give: %q (error %v)", text, isError)
	}
}

// rootsOfAlice answers roots/list with one root.
type rootsOfAlice struct{ answersAlice }

func (rootsOfAlice) ListRoots(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: "file:///home/alice", Name: "home"}}}, nil
}

// TestRoots: an upstream that asks for the roots during a call (here with
// input_required, on 2026-07-28) gets those of the client of that call,
// whether the client speaks 2026-07-28 (asked with input_required) or
// 2025-11-25 (asked with roots/list on its standalone stream).
func TestRoots(t *testing.T) {
	s := server.NewMCPServer("rooted", "1.0.0", server.WithToolCapabilities(true))
	s.AddTool(mcp.NewTool("where"), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if roots := server.RootsResponse(req.Params.InputResponses, "roots"); roots != nil && len(roots.Roots) > 0 {
			return mcp.NewToolResultText("in " + roots.Roots[0].URI), nil
		}
		return server.NewInputRequestBuilder("").Roots("roots").ToolResult(), nil
	})
	u := startServer(t, s)
	m := newManager(t, newMinter(t))
	createToolset(t, "rooted", mcpv1alpha1.ToolsetSpec{URL: u.URL})
	if err := m.Refresh(context.Background(), "rooted"); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, m, handle("acme", "rooted"))
	for _, version := range []string{mcp.ProtocolVersion20260728, mcp.ProtocolVersion20251125} {
		var options []transport.StreamableHTTPCOption
		if version == mcp.ProtocolVersion20251125 {
			options = append(options, transport.WithContinuousListening()) //nolint:staticcheck // the 2025-11-25 stream roots/list is sent on
		}
		c := connectAt(t, srv, "acme", version, []mcpclient.ClientOption{mcpclient.WithRootsHandler(rootsOfAlice{})}, options...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		call := mcp.CallToolRequest{}
		call.Params.Name = "rooted_where"
		res, err := c.CallTool(ctx, call)
		cancel()
		if err != nil || res.IsError || resultText(res) != "in file:///home/alice" {
			t.Errorf("rooted_where for a %s client: %v, %+v", version, err, res)
		}
	}
}

// TestCancellation: a client that gives up on a call ends the forwarded
// request: the upstream sees its request end.
func TestCancellation(t *testing.T) {
	ended := make(chan struct{}, 2)
	s := server.NewMCPServer("slow", "1.0.0", server.WithToolCapabilities(true))
	s.AddTool(mcp.NewTool("wait"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-ctx.Done():
			ended <- struct{}{}
		case <-time.After(20 * time.Second):
		}
		return mcp.NewToolResultText("waited"), nil
	})
	u := startServer(t, s)
	m := newManager(t, newMinter(t))
	createToolset(t, "slow", mcpv1alpha1.ToolsetSpec{URL: u.URL, Timeout: &metav1.Duration{Duration: 30 * time.Second}})
	if err := m.Refresh(context.Background(), "slow"); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, m, handle("acme", "slow"))
	for version, c := range map[string]*mcpclient.Client{"2026-07-28": connect(t, srv, "acme"), "2025-11-25": connectLegacy(t, srv, "acme")} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		call := mcp.CallToolRequest{}
		call.Params.Name = "slow_wait"
		_, err := c.CallTool(ctx, call)
		cancel()
		if err == nil {
			t.Fatalf("the %s call succeeded; want it cut off by the client", version)
		}
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("the upstream's request did not end within 10s of the %s client giving up", version)
		}
	}
}

// TestListTTL: an upstream whose tool list says it may be kept only a
// moment (ttlMs) is asked for it again then, not only every refresh
// interval.
func TestListTTL(t *testing.T) {
	s := server.NewMCPServer("brief", "1.0.0", server.WithToolCapabilities(true), server.WithMethodCacheHints(mcp.MethodToolsList, 200, mcp.CacheScopePublic))
	s.AddTools(echoTool("now", ptr(true)))
	u := startServer(t, s)
	m := newManager(t, newMinter(t))
	m.MinRefreshInterval = 100 * time.Millisecond
	createToolset(t, "brief", mcpv1alpha1.ToolsetSpec{URL: u.URL})
	m.Sync("brief")
	waitfor.Eventually(t, 10*time.Second, "a second tools/list within the list's ttlMs of the first", func() error {
		if n := countRequests(u, "POST tools/list"); n < 2 {
			return errorf("%d tools/list", n)
		}
		return nil
	})
}

// TestListChangesBefore20260728: an upstream on 2025-11-25 announces
// changes of its resource list on the standalone stream the runtime opens
// to it, and the runtime announces them to its clients.
func TestListChangesBefore20260728(t *testing.T) {
	s := server.NewMCPServer("old", "1.0.0", server.WithToolCapabilities(true), server.WithResourceCapabilities(false, true))
	s.AddTools(echoTool("first", ptr(true)))
	u := startServer(t, s, server.WithStreamableHTTPProtocolVersions(mcp.ProtocolVersion20251125))
	m := newManager(t, newMinter(t))
	createToolset(t, "old", mcpv1alpha1.ToolsetSpec{URL: u.URL})
	m.Sync("old")
	srv := serve(t, m, handle("acme", "old"))
	c := connectAt(t, srv, "acme", mcp.ProtocolVersion20251125, nil,
		transport.WithContinuousListening()) //nolint:staticcheck // the 2025-11-25 stream under test
	announced := make(chan struct{}, 8)
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationResourcesListChanged) {
			announced <- struct{}{}
		}
	})
	waitfor.Eventually(t, 10*time.Second, "the upstream's first tool", func() error {
		if got := listNames(t, c); !slices.Equal(got, []string{"old_first"}) {
			return errorf("tools %v", got)
		}
		return nil
	})
	waitfor.Eventually(t, 10*time.Second, "the runtime's stream to the upstream", func() error {
		if countRequests(u, "GET ") == 0 {
			return errorf("no GET")
		}
		return nil
	})
	s.AddResource(mcp.NewResource("old://new", "new"), func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return nil, nil
	})
	select {
	case <-announced:
	case <-time.After(10 * time.Second):
		t.Fatal("no notifications/resources/list_changed reached the client within 10s")
	}
}

package clients_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// downstream answers the server-to-client requests an upstream sends
// through the runtime, as a client's user would.
type downstream struct{}

const (
	sampledText = "a sampled answer"
	rootURI     = "file:///home/alice/project"
)

func (downstream) CreateMessage(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	return &mcp.CreateMessageResult{SamplingMessage: mcp.SamplingMessage{Role: mcp.RoleAssistant, Content: mcp.NewTextContent(sampledText)}, Model: "test-model"}, nil
}

func (downstream) Elicit(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept,
		Content: map[string]any{"name": "Alice Liddell", "check": true}}}, nil
}

func (downstream) ListRoots(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: rootURI, Name: "project"}}}, nil
}

// connect opens an MCP client on the runtime's hosted URL with token,
// answering sampling, elicitation and roots requests, at the given
// protocol version (the newest the runtime offers when ""), with the
// transport's further options (say, its standalone GET stream).
func (s *stack) connect(t *testing.T, token, version string, options ...transport.StreamableHTTPCOption) *mcpclient.Client {
	t.Helper()
	options = append([]transport.StreamableHTTPCOption{transport.WithHTTPBasicClient(s.httpClient()),
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token})}, options...)
	tr, err := transport.NewStreamableHTTP(s.cfg.HostedURL(handle), options...)
	if err != nil {
		t.Fatal(err)
	}
	opts := []mcpclient.ClientOption{mcpclient.WithSamplingHandler(downstream{}), mcpclient.WithElicitationHandler(downstream{}), mcpclient.WithRootsHandler(downstream{})}
	if version != "" {
		opts = append(opts, mcpclient.WithProtocolVersion(version))
	}
	c := mcpclient.NewClient(tr, opts...)
	t.Cleanup(func() { _ = c.Close() })
	// Start's context is the standalone GET stream's, for the client's life.
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "passthrough_test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return c
}

// mountReadScoped mounts server-everything as the toolset "everything" of
// the handle, next to Links (mountEverything), its resources and prompts
// needing links.read, and returns a token with every scope of the handle.
func (s *stack) mountReadScoped(t *testing.T) string {
	t.Helper()
	token := s.mintAccess(t, "passthrough-test", handleScopes...)
	upstreamURL, _ := s.mountEverything(t, token)
	putToolset(t, everythingToolset, mcpv1alpha1.ToolsetSpec{URL: upstreamURL,
		Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}}})
	return token
}

// TestPassThrough: what server-everything offers besides tools passes
// through the runtime, on both protocol versions of the comparison
// (TestConformanceTransparency): its prompts (named everything_{prompt})
// and their completions, its resources and resource templates (URIs
// toolset:everything:{uri}), resource URIs in answers rewritten the same
// way, and progress of a tool call. Scopes and URIs keep each toolset's
// resources to the handles and users that may read them.
func TestPassThrough(t *testing.T) {
	s := newStack(t)
	token := s.mountReadScoped(t)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			c := s.connect(t, token, version)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			prompts, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range prompts.Prompts {
				names = append(names, p.Name)
			}
			for _, want := range []string{"everything_simple-prompt", "everything_args-prompt", "everything_completable-prompt", "everything_resource-prompt"} {
				if !slices.Contains(names, want) {
					t.Errorf("prompts/list %v lacks %s", names, want)
				}
			}
			get := mcp.GetPromptRequest{}
			get.Params.Name = "everything_args-prompt"
			get.Params.Arguments = map[string]string{"city": "Oxford"}
			got, err := c.GetPrompt(ctx, get)
			if err != nil || len(got.Messages) == 0 || !strings.Contains(mcp.GetTextFromContent(got.Messages[0].Content), "Oxford") {
				t.Errorf("prompts/get everything_args-prompt: %v, %+v", err, got)
			}

			complete := mcp.CompleteRequest{}
			complete.Params.Ref = mcp.PromptReference{Type: "ref/prompt", Name: "everything_completable-prompt"}
			complete.Params.Argument = mcp.CompleteArgument{Name: "department", Value: "Eng"}
			completion, err := c.Complete(ctx, complete)
			if err != nil || !slices.Equal(completion.Completion.Values, []string{"Engineering"}) {
				t.Errorf("completion/complete of a prompt argument: %v, %+v", err, completion)
			}

			resources, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
			if err != nil || len(resources.Resources) == 0 {
				t.Fatalf("resources/list: %v, %+v", err, resources)
			}
			for _, r := range resources.Resources {
				if !strings.HasPrefix(r.URI, "toolset:everything:demo://") {
					t.Errorf("resources/list lists %q, not a toolset:everything: URI", r.URI)
				}
			}
			first := resources.Resources[0].URI
			read, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: first}})
			if err != nil || len(read.Contents) == 0 {
				t.Fatalf("resources/read %s: %v", first, err)
			}
			if text, ok := mcp.AsTextResourceContents(read.Contents[0]); !ok || text.URI != first || text.Text == "" {
				t.Errorf("resources/read %s: %+v", first, read.Contents[0])
			}

			templates, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var raw []string
			for _, tmpl := range templates.ResourceTemplates {
				raw = append(raw, tmpl.URITemplate.Raw())
			}
			const textTemplate = "toolset:everything:demo://resource/dynamic/text/{resourceId}"
			if !slices.Contains(raw, textTemplate) {
				t.Errorf("resources/templates/list %v lacks %s", raw, textTemplate)
			}
			dynamic := "toolset:everything:demo://resource/dynamic/text/7"
			if read, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: dynamic}}); err != nil || len(read.Contents) != 1 {
				t.Errorf("resources/read %s: %v", dynamic, err)
			}

			// The upstream embeds its own demo:// URI; the client gets one it
			// can read through the runtime.
			get = mcp.GetPromptRequest{}
			get.Params.Name = "everything_resource-prompt"
			get.Params.Arguments = map[string]string{"resourceType": "Text", "resourceId": "3"}
			got, err = c.GetPrompt(ctx, get)
			if err != nil {
				t.Fatal(err)
			}
			var embedded []string
			for _, m := range got.Messages {
				if e, ok := mcp.AsEmbeddedResource(m.Content); ok {
					if r, ok := mcp.AsTextResourceContents(e.Resource); ok {
						embedded = append(embedded, r.URI)
					}
				}
			}
			if len(embedded) != 1 || !strings.HasPrefix(embedded[0], "toolset:everything:demo://") {
				t.Errorf("everything_resource-prompt embeds %v; want one toolset:everything: URI", embedded)
			}

			progress := callWithProgress(ctx, t, c)
			if len(progress) != 3 {
				t.Errorf("a call with a progress token got %d progress notifications for it; want 3: %v", len(progress), progress)
			}
		})
	}

	t.Run("scopes and isolation", func(t *testing.T) {
		// Without links.read, the everything toolset's resources are not
		// listed, and a read is refused with the step-up challenge.
		narrow := s.mintAccess(t, "passthrough-narrow", "mcp.connect", "skills.read")
		c := s.connect(t, narrow, "2025-11-25")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The runtime reads the toolset's new read scopes on its next
		// refresh, right after the update mountReadScoped made.
		waitfor.Eventually(t, 30*time.Second, "resources/list without links.read to list none", func() error {
			resources, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
			if err != nil {
				return err
			}
			if len(resources.Resources) != 0 {
				return fmt.Errorf("%d resources", len(resources.Resources))
			}
			return nil
		})
		_, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: "toolset:everything:demo://resource/dynamic/text/1"}})
		if err == nil || !strings.Contains(err.Error(), "insufficient_scope") {
			t.Errorf("resources/read without links.read: %v; want insufficient_scope", err)
		}
		get := mcp.GetPromptRequest{}
		get.Params.Name = "everything_simple-prompt"
		if _, err := c.GetPrompt(ctx, get); err == nil || !strings.Contains(err.Error(), "insufficient_scope") {
			t.Errorf("prompts/get without links.read: %v; want insufficient_scope", err)
		}

		// A URI of a toolset the handle does not use reaches nothing.
		full := s.connect(t, token, "2025-11-25")
		for _, uri := range []string{"toolset:other:demo://resource/dynamic/text/1", "demo://resource/dynamic/text/1"} {
			if _, err := full.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: uri}}); err == nil {
				t.Errorf("resources/read %s succeeded; want an error", uri)
			}
		}
	})
}

// TestServerToClientRequests: the upstream's sampling and elicitation
// requests during a tool call are answered by the client that called the
// tool: on 2025-11-25 as server requests (mcp-go's server sends elicitation
// on the stream of the call, sampling on the client's standalone GET
// stream, which this client opens, as the official SDK's does), on
// 2026-07-28 as input_required answers the client calls again with. The client's answer must reach the replica
// that relayed the request (docs/mcp.md, "Server-to-client requests"): the
// stack has one replica, as a Gateway with session affinity gives.
func TestServerToClientRequests(t *testing.T) {
	s := newStackOf(t, 1)
	token := s.mountReadScoped(t)
	clients := map[string]*mcpclient.Client{
		"2025-11-25": s.connect(t, token, "2025-11-25", standaloneStream()),
		// 2026-07-28 has no server requests: the runtime answers
		// input_required and the client (mcp-go's, like the official SDK's)
		// calls again with the answer.
		"2026-07-28": s.connect(t, token, "2026-07-28"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for version, c := range clients {
		// Not roots: server-everything asks for them outside the call (not
		// on its stream), which nothing can tie to a client (docs/mcp.md).
		for _, tc := range []struct{ tool, want string }{
			{"everything_trigger-elicitation-request", "Alice Liddell"},
			{"everything_trigger-sampling-request", sampledText},
		} {
			call := mcp.CallToolRequest{}
			call.Params.Name = tc.tool
			call.Params.Arguments = map[string]any{"prompt": "hello", "maxTokens": 10}
			res, err := c.CallTool(ctx, call)
			if err != nil || res.IsError || !strings.Contains(resultText(res), tc.want) {
				t.Errorf("%s on %s: %v, %s; want the answer of this client (%q)", tc.tool, version, err, resultText(res), tc.want)
			}
		}
	}
}

// TestResourceSubscriptions: a client subscribed to a resource of a toolset
// gets the upstream's updates of it, under the runtime's URI, on its GET
// stream (2025-11-25) or its listen stream (2026-07-28); one that is not
// subscribed gets none. The stack has one replica,
// as a Gateway with session affinity gives (docs/mcp.md).
func TestResourceSubscriptions(t *testing.T) {
	s := newStackOf(t, 1)
	token := s.mountReadScoped(t)
	const uri = "toolset:everything:demo://resource/static/document/architecture.md"
	subscribed := s.connect(t, token, "2025-11-25", standaloneStream())
	other := s.connect(t, token, "2025-11-25", standaloneStream())
	updates := func(c *mcpclient.Client) func() []string {
		var mu sync.Mutex
		var got []string
		c.OnNotification(func(n mcp.JSONRPCNotification) {
			if n.Method == string(mcp.MethodNotificationResourceUpdated) {
				mu.Lock()
				got = append(got, fmt.Sprint(n.Params.AdditionalFields["uri"]))
				mu.Unlock()
			}
		})
		return func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(got)
		}
	}
	gotSubscribed, gotOther := updates(subscribed), updates(other)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := subscribed.Subscribe(ctx, mcp.SubscribeRequest{Params: mcp.SubscribeParams{URI: uri}}); err != nil { //nolint:staticcheck // the 2025-11-25 RPC under test
		t.Fatal(err)
	}
	// server-everything sends updates of the subscribed URIs of its session
	// (the runtime's) once a call of this tool turns them on.
	call := mcp.CallToolRequest{}
	call.Params.Name = "everything_toggle-subscriber-updates"
	if res, err := subscribed.CallTool(ctx, call); err != nil || res.IsError {
		t.Fatalf("%s: %v, %s", call.Params.Name, err, resultText(res))
	}
	waitfor.Eventually(t, 20*time.Second, "an update of the subscribed resource", func() error {
		if got := gotSubscribed(); !slices.Contains(got, uri) {
			return fmt.Errorf("updates %v", got)
		}
		return nil
	})
	if got := gotOther(); len(got) != 0 {
		t.Errorf("a session that did not subscribe got updates %v", got)
	}
	if err := subscribed.Unsubscribe(ctx, mcp.UnsubscribeRequest{Params: mcp.UnsubscribeParams{URI: uri}}); err != nil { //nolint:staticcheck // the 2025-11-25 RPC under test
		t.Fatal(err)
	}

	// 2026-07-28 subscribes in its subscriptions/listen stream; the updates
	// (server-everything sends them every 5 s) come on that stream.
	listener := s.connect(t, token, "2026-07-28")
	gotListener := updates(listener)
	stop, err := listener.ListenAsync(ctx, mcp.SubscriptionFilter{ResourceSubscriptions: []string{uri}}, func(err error) { t.Logf("listen: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	waitfor.Eventually(t, 20*time.Second, "an update on the 2026-07-28 client's listen stream", func() error {
		if got := gotListener(); !slices.Contains(got, uri) {
			return fmt.Errorf("updates %v", got)
		}
		return nil
	})
}

// standaloneStream opens the client's standalone GET stream (2025-11-25),
// where mcp-go's server sends sampling and roots requests and resource
// updates.
func standaloneStream() transport.StreamableHTTPCOption {
	return transport.WithContinuousListening() //nolint:staticcheck // the 2025-11-25 stream under test
}

// callWithProgress calls everything's long-running tool with a progress
// token and returns the progress notifications the client got for it.
func callWithProgress(ctx context.Context, t *testing.T, c *mcpclient.Client) []float64 {
	t.Helper()
	var mu sync.Mutex
	var got []float64
	const token = "client-progress-1"
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != string(mcp.MethodNotificationProgress) {
			return
		}
		if n.Params.AdditionalFields["progressToken"] == token {
			mu.Lock()
			p, _ := n.Params.AdditionalFields["progress"].(float64)
			got = append(got, p)
			mu.Unlock()
		}
	})
	call := mcp.CallToolRequest{}
	call.Params.Name = "everything_trigger-long-running-operation"
	call.Params.Arguments = map[string]any{"duration": 1, "steps": 3}
	call.Params.Meta = &mcp.Meta{ProgressToken: token}
	res, err := c.CallTool(ctx, call)
	if err != nil || res.IsError {
		t.Fatalf("everything_trigger-long-running-operation: %v, %s", err, resultText(res))
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got)
}

func resultText(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	var b strings.Builder
	for _, c := range res.Content {
		b.WriteString(mcp.GetTextFromContent(c))
	}
	return b.String()
}

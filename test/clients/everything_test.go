package clients_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// everythingToolset is the Toolset of @modelcontextprotocol/server-everything.
const everythingToolset = "everything"

// startEverything starts @modelcontextprotocol/server-everything (npm) with
// its Streamable HTTP transport on a free port of 127.0.0.1 and returns its
// MCP URL. It does not check the runtime's upstream tokens.
func (s *stack) startEverything(t *testing.T) string {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := s.nodeCommand(ctx, []string{fmt.Sprintf("PORT=%d", port)},
		"node_modules/@modelcontextprotocol/server-everything/dist/index.js", "streamableHttp")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	ready := make(chan struct{})
	var transcript strings.Builder
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			transcript.WriteString(scanner.Text() + "\n")
			if strings.Contains(scanner.Text(), fmt.Sprintf("listening on port %d", port)) {
				close(ready)
				break
			}
		}
		for scanner.Scan() { // keep draining
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("server-everything did not start within 30s:\n%s", transcript.String())
	}
	return fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
}

// upstreamTools lists an upstream's tools directly, as a client that
// declares the capabilities the runtime declares (sampling, elicitation,
// roots: it relays them) sees them.
func upstreamTools(t *testing.T, mcpURL string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := transport.NewStreamableHTTP(mcpURL)
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, client.WithSamplingHandler(downstream{}), client.WithElicitationHandler(downstream{}), client.WithRootsHandler(downstream{}))
	defer func() { _ = c.Close() }()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "clients_test", Version: "1"}
	init.Params.ProtocolVersion = "2025-11-25"
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// setHandleToolsets sets the toolsets the handle uses.
func setHandleToolsets(t *testing.T, names ...string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		h := &mcpv1alpha1.Handle{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Name: handle}, h); err != nil {
			return err
		}
		h.Spec.Toolsets = nil
		for _, n := range names {
			h.Spec.Toolsets = append(h.Spec.Toolsets, mcpv1alpha1.ToolsetReference{Name: n})
		}
		return env.Client.Update(context.Background(), h)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestThirdPartyUpstream serves the tools of a third-party MCP server,
// @modelcontextprotocol/server-everything, as a Toolset of the handle: the
// runtime lists every tool the upstream lists as everything_{tool} next to
// the Links tools, and a call of its echo tool goes through the runtime to
// the upstream and back.
func TestThirdPartyUpstream(t *testing.T) {
	s := newStack(t)
	token := s.mintAccess(t, "everything-test", handleScopes...)
	_, upstream := s.mountEverything(t, token)
	if !slices.Contains(upstream, "echo") {
		t.Fatalf("server-everything lists %v, without echo", upstream)
	}
	t.Logf("the runtime lists %d tools of server-everything", len(upstream))
	hosted := s.cfg.HostedURL(handle)

	for _, mcpURL := range []string{hosted, s.cfg.GatewayURL(), s.cfg.CompatibilityURL(handle)} {
		status, _, hdr := s.rpc(t, mcpURL, token, "", "initialize", map[string]any{"protocolVersion": "2025-11-25",
			"capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "clients_test", "version": "1"}})
		if status != http.StatusOK {
			t.Fatalf("initialize on %s: %d", mcpURL, status)
		}
		message := "hello from " + mcpURL
		status, out, _ := s.rpc(t, mcpURL, token, hdr.Get("Mcp-Session-Id"), "tools/call",
			map[string]any{"name": everythingToolset + "_echo", "arguments": map[string]any{"message": message}})
		result, _ := out["result"].(map[string]any)
		content, _ := result["content"].([]any)
		var text string
		if len(content) == 1 {
			text, _ = content[0].(map[string]any)["text"].(string)
		}
		if status != http.StatusOK || result["isError"] == true || text != "Echo: "+message {
			t.Errorf("everything_echo on %s: HTTP %d, %v", mcpURL, status, out)
		}
	}
}

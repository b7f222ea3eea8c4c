package runtime_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/tracing"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// otlpReceiver is an in-process OTLP/HTTP collector keeping the spans it
// is sent.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rcv := &otlpReceiver{}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				rcv.spans = append(rcv.spans, ss.GetSpans()...)
			}
		}
		rcv.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

// span returns the received span of the trace with the name and kind.
func (rcv *otlpReceiver) span(traceID, name string, kind tracepb.Span_SpanKind) *tracepb.Span {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, s := range rcv.spans {
		if hex.EncodeToString(s.GetTraceId()) == traceID && s.GetName() == name && s.GetKind() == kind {
			return s
		}
	}
	return nil
}

// tracedUpstream is an MCP server with one tool, echo, recording the
// traceparent of every tools/call it is sent ("" when none).
func tracedUpstream(t *testing.T) (*httptest.Server, func() []string) {
	s := server.NewMCPServer("traced", "1")
	s.AddTool(mcp.NewTool("echo"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("echo"), nil
	})
	streamable := server.NewStreamableHTTPServer(s)
	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"tools/call"`)) {
			mu.Lock()
			seen = append(seen, r.Header.Get("traceparent"))
			mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		streamable.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	return up, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// TestTracing sends tools/calls carrying a traceparent (a header, then
// _meta.traceparent) to the runtime exporting to an in-process OTLP
// receiver: each request's server span is a child of the client's span,
// the upstream call's span a child of the request's, and the upstream is
// sent the upstream span's traceparent. With tracing off again, nothing of
// the client's trace goes upstream.
func TestTracing(t *testing.T) {
	ctx := context.Background()
	rcv := newOTLPReceiver(t)
	shutdown, err := tracing.Setup(ctx, rcv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })

	newStack(t) // the objects it creates
	up, seen := tracedUpstream(t)
	acmeUses(t, &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: "traced"}, Spec: mcpv1alpha1.ToolsetSpec{URL: up.URL + "/mcp"}})
	s := newStack(t, withMCP(t))
	const hosted = "https://acme.mcp.10x.in/mcp"
	access, session := s.connect(t, hosted, "mcp.connect skills.read")
	// call sends tools/call of traced_echo with the traceparent in the
	// header or in _meta.
	call := func(header, meta string) error {
		params := map[string]any{"name": "traced_echo", "arguments": map[string]any{}}
		if meta != "" {
			params["_meta"] = map[string]any{"traceparent": meta}
		}
		msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
		req, _ := http.NewRequest("POST", hosted, bytes.NewReader(msg))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("Mcp-Session-Id", session)
		if header != "" {
			req.Header.Set("traceparent", header)
		}
		resp := s.send(t, req)
		if resp.StatusCode != 200 || !strings.Contains(resp.body, `"text":"echo"`) {
			return fmt.Errorf("%d %s", resp.StatusCode, resp.body)
		}
		return nil
	}

	// The toolset's tools are fetched in the background: the first calls
	// may find no tool; each try is a trace of its own.
	const clientSpan = "00f067aa0ba902b7"
	var traceID string
	try := 0
	waitfor.Eventually(t, 15*time.Second, "traced_echo", func() error {
		try++
		traceID = fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e%04x", try)
		return call("00-"+traceID+"-"+clientSpan+"-01", "")
	})
	const metaTrace, metaSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	if err := call("", "00-"+metaTrace+"-"+metaSpan+"-01"); err != nil {
		t.Fatalf("tools/call with _meta.traceparent: %v", err)
	}
	// A request's span ends after its answer is written: flushed until
	// both server spans are in.
	provider, _ := otel.GetTracerProvider().(interface{ ForceFlush(context.Context) error })
	if provider == nil {
		t.Fatal("tracing.Setup did not install an SDK tracer provider")
	}
	waitfor.Eventually(t, 10*time.Second, "the server spans", func() error {
		if err := provider.ForceFlush(ctx); err != nil {
			return err
		}
		for _, trace := range []string{traceID, metaTrace} {
			if rcv.span(trace, "tools/call", tracepb.Span_SPAN_KIND_SERVER) == nil {
				return fmt.Errorf("no server span of the trace %s", trace)
			}
		}
		return nil
	})
	if err := shutdown(ctx); err != nil {
		t.Fatalf("flushing the spans: %v", err)
	}

	for _, c := range []struct{ trace, parent string }{{traceID, clientSpan}, {metaTrace, metaSpan}} {
		srv := rcv.span(c.trace, "tools/call", tracepb.Span_SPAN_KIND_SERVER)
		if srv == nil {
			t.Fatalf("no server span of the trace %s", c.trace)
		}
		if got := hex.EncodeToString(srv.GetParentSpanId()); got != c.parent {
			t.Errorf("the server span's parent is %q, want the client's %s", got, c.parent)
		}
		attrs := map[string]string{}
		for _, kv := range srv.GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
			if kv.GetKey() == "http.response.status_code" {
				attrs[kv.GetKey()] = fmt.Sprint(kv.GetValue().GetIntValue())
			}
		}
		for k, v := range map[string]string{"mcp.handle": "acme", "mcp.method.name": "tools/call", "gen_ai.tool.name": "traced_echo", "http.response.status_code": "200"} {
			if attrs[k] != v {
				t.Errorf("the server span's %s is %q, want %q", k, attrs[k], v)
			}
		}
		client := rcv.span(c.trace, "tools/call", tracepb.Span_SPAN_KIND_CLIENT)
		if client == nil {
			t.Fatalf("no upstream span of the trace %s", c.trace)
		}
		if !bytes.Equal(client.GetParentSpanId(), srv.GetSpanId()) {
			t.Errorf("the upstream span's parent is %x, want the server span %x", client.GetParentSpanId(), srv.GetSpanId())
		}
		want := "00-" + c.trace + "-" + hex.EncodeToString(client.GetSpanId()) + "-01"
		found := false
		for _, tp := range seen() {
			found = found || tp == want
		}
		if !found {
			t.Errorf("the upstream was not sent %s: %q", want, seen())
		}
	}

	// Off: the client's traceparent goes nowhere.
	if err := call("00-"+metaTrace+"-"+metaSpan+"-01", ""); err != nil {
		t.Fatal(err)
	}
	if all := seen(); all[len(all)-1] != "" {
		t.Errorf("with tracing off the upstream was sent traceparent %q", all[len(all)-1])
	}
}

// acmeUses creates the toolsets and makes them the handle acme's, both
// undone when the test ends.
func acmeUses(t *testing.T, toolsets ...*mcpv1alpha1.Toolset) {
	t.Helper()
	ctx := context.Background()
	var refs []mcpv1alpha1.ToolsetReference
	for _, ts := range toolsets {
		if err := env.Client.Create(ctx, ts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ts) })
		refs = append(refs, mcpv1alpha1.ToolsetReference{Name: ts.Name})
	}
	acme := &mcpv1alpha1.Handle{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: "acme"}, acme); err != nil {
		t.Fatal(err)
	}
	before := acme.Spec.Toolsets
	acme.Spec.Toolsets = refs
	if err := env.Client.Update(ctx, acme); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h := &mcpv1alpha1.Handle{}
		if env.Client.Get(context.Background(), types.NamespacedName{Name: "acme"}, h) == nil {
			h.Spec.Toolsets = before
			_ = env.Client.Update(context.Background(), h)
		}
	})
}

// connect signs alice in as acme-chatgpt with the scope and initializes a
// session at mcpURL: the access token and the session.
func (s *stack) connect(t *testing.T, mcpURL, scope string) (access, session string) {
	t.Helper()
	verifier, challenge := pkce()
	loc := s.signInAndApprove(t, authorizeURL(challenge, url.Values{"scope": {scope}}))
	_, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	access, _ = tok["access_token"].(string)
	if access == "" {
		t.Fatalf("no access token: %v", tok)
	}
	status, session, out, _ := s.rpc(t, mcpURL, access, "", "initialize",
		map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}})
	if status != 200 {
		t.Fatalf("initialize: %d %v", status, out)
	}
	return access, session
}

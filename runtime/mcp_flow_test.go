package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// withMCP gives every replica the MCP endpoint the way cmd/runtime wires
// it (test/framework/testruntime).
func withMCP(t *testing.T) func(*runtime.Server) {
	t.Helper()
	return testruntime.MCP(t, env.Config, env.Client)
}

// rpc posts one JSON-RPC request to an MCP URL and returns the status,
// the session id and the decoded body.
func (s *stack) rpc(t *testing.T, mcpURL, bearer, session, method string, params any) (int, string, map[string]any, http.Header) {
	t.Helper()
	msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest("POST", mcpURL, strings.NewReader(string(msg)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp := s.send(t, req)
	var out map[string]any
	_ = json.Unmarshal([]byte(resp.body), &out)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), out, resp.Header
}

func TestMCPThroughOAuthOnEveryURL(t *testing.T) {
	ctx := context.Background()
	cfg := newStack(t).cfg // the objects newStack creates
	upstreamServer := testruntime.LinksUpstream(t, env.Client, cfg.Namespace, cfg.Issuer)
	ts := &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: "mcpflow-links"}, Spec: mcpv1alpha1.ToolsetSpec{
		URL:    upstreamServer.URL + "/mcp",
		Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}}}
	if err := env.Client.Create(ctx, ts); err != nil {
		t.Fatal(err)
	}
	acme := &mcpv1alpha1.Handle{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: "acme"}, acme); err != nil {
		t.Fatal(err)
	}
	acme.Spec.Toolsets = []mcpv1alpha1.ToolsetReference{{Name: "mcpflow-links"}}
	if err := env.Client.Update(ctx, acme); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, withMCP(t))

	verifier, challenge := pkce()
	scope := url.Values{"scope": {"mcp.connect skills.read links.read"}}
	loc := s.signInAndApprove(t, authorizeURL(challenge, scope))
	_, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("no access token: %v", tok)
	}

	// The toolset's tools appear once the manager has listed the upstream.
	for _, mcpURL := range []string{"https://acme.mcp.10x.in/mcp", "https://ai.10x.in/mcp", "https://ai.10x.in/mcp/acme/mcp"} {
		t.Run(mcpURL, func(t *testing.T) {
			status, session, out, _ := s.rpc(t, mcpURL, access, "", "initialize",
				map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}})
			if status != 200 || session == "" {
				t.Fatalf("initialize: %d %v", status, out)
			}
			var names []string
			// The assertion below says what was listed last.
			_ = waitfor.Poll(ctx, 15*time.Second, "tools/list", func() error {
				status, _, out, _ = s.rpc(t, mcpURL, access, session, "tools/list", map[string]any{})
				names = names[:0]
				result, _ := out["result"].(map[string]any)
				tools, _ := result["tools"].([]any)
				for _, tool := range tools {
					names = append(names, tool.(map[string]any)["name"].(string))
				}
				if len(names) != 3 {
					return fmt.Errorf("%d tools", len(names))
				}
				return nil
			})
			if status != 200 || strings.Join(names, ",") != "mcpflow-links_create_link,mcpflow-links_delete_link,mcpflow-links_list_links" {
				t.Fatalf("tools/list: %d %v", status, names)
			}
			// A read-only tool is called on the upstream with a runtime
			// token for acme.
			status, _, out, _ = s.rpc(t, mcpURL, access, session, "tools/call", map[string]any{"name": "mcpflow-links_list_links", "arguments": map[string]any{}})
			result, _ := out["result"].(map[string]any)
			if status != 200 || result == nil || result["isError"] == true {
				t.Fatalf("list_links: %d %v", status, out)
			}
			// A tool that needs links.write, which the grant lacks: 403 with
			// the step-up challenge.
			status, _, out, header := s.rpc(t, mcpURL, access, session, "tools/call",
				map[string]any{"name": "mcpflow-links_create_link", "arguments": map[string]any{"path": "/sale", "target": "https://example.com"}})
			if www := header.Get("WWW-Authenticate"); status != 403 || !strings.Contains(www, `error="insufficient_scope"`) || !strings.Contains(www, "links.write") {
				t.Errorf("create_link without links.write: %d %q %v", status, www, out)
			}
		})
	}

	// initialize offers only versions served end to end: a client asking
	// for an older one (whose batches the endpoint refuses) gets the newest.
	for _, asked := range []string{"2025-03-26", "2024-11-05", ""} {
		status, _, out, _ := s.rpc(t, "https://acme.mcp.10x.in/mcp", access, "", "initialize",
			map[string]any{"protocolVersion": asked, "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}})
		result, _ := out["result"].(map[string]any)
		if status != 200 || result["protocolVersion"] != "2025-11-25" {
			t.Errorf("initialize asking for %q: %d %v, want 2025-11-25", asked, status, out)
		}
	}

	// The bootstrap flow recorded the discovery on the grant.
	a, err := s.keys.Keys().VerifyAccess(access, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Eventually(t, 15*time.Second, "the grant records the discovery", func() error {
		conn := &mcpv1alpha1.Connection{}
		if err := env.Client.Get(ctx, types.NamespacedName{Name: a.Grant}, conn); err != nil {
			return err
		}
		ready := meta.FindStatusCondition(conn.Status.Conditions, mcpv1alpha1.ConnectionConditionReady)
		if ready == nil || ready.Status != metav1.ConditionTrue || conn.Status.Bootstrap == nil || conn.Status.Bootstrap.ToolCount == nil || *conn.Status.Bootstrap.ToolCount != 3 {
			return fmt.Errorf("Ready %+v, bootstrap %+v", ready, conn.Status.Bootstrap)
		}
		return nil
	})

	// Deleting the grant revokes the token on every replica within a second.
	if err := (&grants.Store{Client: env.Client, Reader: env.Client}).Revoke(ctx, a.Grant); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now().Add(time.Second)
	for {
		status, _, _, header := s.rpc(t, "https://acme.mcp.10x.in/mcp", access, "", "ping", map[string]any{})
		status2, _, _, _ := s.rpc(t, "https://acme.mcp.10x.in/mcp", access, "", "ping", map[string]any{})
		if status == 401 && status2 == 401 && strings.Contains(header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			break
		}
		if time.Now().After(revoked) {
			t.Fatalf("a deleted grant's token still works after a second: %d %d", status, status2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

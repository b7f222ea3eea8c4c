package runtime_test

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

// The guide's bootstrap flow: "the bootstrap workflow smoke-checks tool
// discovery and resumes the original request once the connector is ready".
// A toolset whose upstream is still coming up when the connector
// authorizes: its first fetch fails, and the runtime's worker would retry
// only after its backoff. The connector's first tools/call arrives at once;
// the bootstrap check fetches the toolset again until it answers, and the
// call is answered with the tool's result instead of "tool not found". The
// grant records each step.
func TestBootstrapResumesTheFirstToolCall(t *testing.T) {
	ctx := context.Background()
	cfg := newStack(t).cfg
	const cb = "https://chatgpt.com/connector/oauth/cb_boot"
	up := testruntime.LinksUpstream(t, env.Client, cfg.Namespace, cfg.Issuer)
	var open atomic.Bool
	links := up.Config.Handler
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		links.ServeHTTP(w, r)
	})
	objs := []ctrlclient.Object{
		&mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: "boot-links"}, Spec: mcpv1alpha1.ToolsetSpec{URL: up.URL + "/mcp",
			Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "boot"}, Spec: mcpv1alpha1.HandleSpec{
			Toolsets: []mcpv1alpha1.ToolsetReference{{Name: "boot-links"}},
			Members:  []mcpv1alpha1.HandleMember{{User: "alice@example.com"}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "boot-chatgpt"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "boot", ClientName: "ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{cb}}},
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	s := newStack(t, withMCP(t))

	verifier, challenge := pkce()
	loc := s.signInAndApprove(t, authorizeURL(challenge, url.Values{"client_id": {"boot-chatgpt"}, "redirect_uri": {cb},
		"resource": {"https://boot.mcp.10x.in/mcp"}, "scope": {""}}))
	status, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {"boot-chatgpt"},
		"redirect_uri": {cb}, "code_verifier": {verifier}})
	access, _ := tok["access_token"].(string)
	if status != http.StatusOK || access == "" {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	const mcpURL = "https://boot.mcp.10x.in/mcp"
	status, session, out, _ := s.rpc(t, mcpURL, access, "", "initialize",
		map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}})
	if status != http.StatusOK || session == "" {
		t.Fatalf("initialize: %d %v", status, out)
	}
	// The upstream comes up a moment after the connector's first call.
	time.AfterFunc(1500*time.Millisecond, func() { open.Store(true) })
	status, _, out, _ = s.rpc(t, mcpURL, access, session, "tools/call", map[string]any{"name": "boot-links_list_links", "arguments": map[string]any{}})
	result, _ := out["result"].(map[string]any)
	if status != http.StatusOK || result == nil || result["isError"] == true {
		t.Fatalf("the first tools/call, while the toolset came up: %d %v", status, out)
	}

	a, err := s.keys.Keys().VerifyAccess(access, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conn := &mcpv1alpha1.Connection{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: a.Grant}, conn); err != nil {
		t.Fatal(err)
	}
	var steps []string
	if conn.Status.Bootstrap != nil {
		for _, st := range conn.Status.Bootstrap.Steps {
			steps = append(steps, string(st.Name)+"="+string(st.Result)+": "+st.Message)
		}
	}
	want := []string{"Authorized=Succeeded: the code was exchanged for tokens", "ToolsChecked=Succeeded: the handle's toolsets answered with 3 tools"}
	if len(steps) < 2 || steps[0] != want[0] || steps[1] != want[1] {
		t.Errorf("the grant's bootstrap steps: %q, want %q first", steps, want)
	}
}

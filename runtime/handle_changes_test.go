package runtime_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// A handle created, suspended or deleted with kubectl is served, or
// refused, within a second on every replica, with no restart.
func TestHandleChangesApplyWithinASecond(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, withMCP(t))
	verifier, challenge := pkce()
	loc := s.signInAndApprove(t, authorizeURL(challenge, url.Values{"scope": {"mcp.connect skills.read"}}))
	_, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	a, err := s.keys.Keys().VerifyAccess(tok["access_token"].(string), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A token for the new handle, from the same (live) grant.
	fresh, err := s.keys.Keys().MintAccess(tokens.Access{Handle: "fresh", Subject: a.Subject, ClientID: a.ClientID, Grant: a.Grant, Scopes: a.Scopes, Expiry: a.Expiry})
	if err != nil {
		t.Fatal(err)
	}
	const freshURL = "https://fresh.mcp.10x.in/mcp"
	ping := func() int {
		status, _, _, _ := s.rpc(t, freshURL, fresh, "", "ping", map[string]any{})
		return status
	}
	// within polls both replicas until they answer want, for at most a second.
	within := func(what string, want int) {
		t.Helper()
		start := time.Now()
		for {
			// Two pings: the requests alternate between the replicas.
			if first, second := ping(), ping(); first == want && second == want {
				t.Logf("%s: %d after %s", what, want, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > time.Second {
				t.Fatalf("%s: not %d within a second", what, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got := ping(); got != 404 {
		t.Fatalf("before the handle exists: %d", got)
	}
	h := &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}, Spec: mcpv1alpha1.HandleSpec{
		Members: []mcpv1alpha1.HandleMember{{User: "alice@example.com"}}}}
	if err := env.Client.Create(ctx, h); err != nil {
		t.Fatal(err)
	}
	within("created", 200)
	if err := env.Client.Get(ctx, types.NamespacedName{Name: "fresh"}, h); err != nil {
		t.Fatal(err)
	}
	h.Spec.Suspended = true
	if err := env.Client.Update(ctx, h); err != nil {
		t.Fatal(err)
	}
	within("suspended", 403)
	if err := env.Client.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	within("deleted", 404)
}

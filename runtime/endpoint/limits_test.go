package endpoint

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// tinyLimits: a grant may send 2 requests at once, a handle 3, both
// refilling at one a second; beta overrides both.
func tinyLimits(cfg *platform.Config, handles handleMap) {
	cfg.RateLimits.MCPPerGrant = &platform.RateLimit{RequestsPerMinute: 60, Burst: 2}
	cfg.RateLimits.MCPPerHandle = &platform.RateLimit{RequestsPerMinute: 60, Burst: 3}
	handles["beta"].Spec.RateLimit = &mcpv1alpha1.HandleRateLimit{
		PerGrant:  &mcpv1alpha1.RequestRate{RequestsPerMinute: ptr.To[int32](120), Burst: 4},
		PerHandle: &mcpv1alpha1.RequestRate{RequestsPerMinute: ptr.To[int32](0)},
	}
}

// expect429 checks a refusal: status, Retry-After (a second: the tiny
// limits refill a token each second) and the code, in the endpoint's JSON
// error or, for a tools/call, its tool-result form.
func (f *fixture) expect429(url, bearer, msg, about string) {
	f.t.Helper()
	resp := f.post(url, bearer, msg)
	raw := readBody(f.t, resp)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		f.t.Fatalf("%d Retry-After %q: %s; want 429 after 1 s", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
	var text string
	if strings.Contains(msg, "tools/call") {
		var call toolResult
		if err := json.Unmarshal([]byte(raw), &call); err != nil || !call.Result.IsError || string(call.ID) != "2" || len(call.Result.Content) != 1 {
			f.t.Fatalf("a refused tools/call answered %s; want its failed tool result", raw)
		}
		text = call.Result.Content[0]["text"]
	} else {
		var b body
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			f.t.Fatalf("not a JSON error: %s", raw)
		}
		text = b.Error + ": " + b.Description
	}
	if !strings.HasPrefix(text, oautherr.RateLimited+": ") || !strings.Contains(text, about) {
		f.t.Errorf("refusal %q; want %s naming %q", text, oautherr.RateLimited, about)
	}
}

// expectOK checks that an initialize is answered.
func (f *fixture) expectOK(url, bearer string) {
	f.t.Helper()
	if resp := f.post(url, bearer, initialize); resp.StatusCode != 200 {
		f.t.Fatalf("%d %s; want 200", resp.StatusCode, readBody(f.t, resp))
	}
}

func TestRateLimitPerGrant(t *testing.T) {
	f := newFixture(t, tinyLimits)
	const hosted = "https://acme.mcp.10x.in/mcp"
	a := f.fullToken("acme", "conn-a")
	f.expectOK(hosted, a)
	f.expectOK(hosted, a)
	f.expect429(hosted, a, initialize, "this connection made more than 60 requests a minute")
	f.expect429(hosted, a, createLink, "this connection")
	f.now = f.now.Add(time.Second)
	f.expectOK(hosted, a)
}

func TestRateLimitPerHandle(t *testing.T) {
	f := newFixture(t, tinyLimits)
	const hosted = "https://acme.mcp.10x.in/mcp"
	a, b := f.fullToken("acme", "conn-a"), f.fullToken("acme", "conn-b")
	f.expectOK(hosted, a)
	f.expectOK(hosted, a)
	f.expectOK(hosted, b)
	// conn-b's own bucket has a token left; the handle's is empty.
	f.expect429(hosted, b, initialize, "the handle acme received more than 60 requests a minute")
	f.now = f.now.Add(time.Second)
	// The shared URL serves the token's handle and counts on it too.
	f.expectOK("https://ai.10x.in/mcp", b)
	f.expect429("https://ai.10x.in/mcp", a, initialize, "the handle acme")
}

func TestRateLimitHandleOverride(t *testing.T) {
	f := newFixture(t, tinyLimits)
	const hosted = "https://beta.mcp.10x.in/mcp"
	b := f.fullToken("beta", "conn-b")
	// beta's grants get 4 at once, past the platform's 2 a grant and 3 a
	// handle (its per-handle limit is lifted).
	for range 4 {
		f.expectOK(hosted, b)
	}
	f.expect429(hosted, b, createLink, "more than 120 requests a minute")
	f.now = f.now.Add(500 * time.Millisecond)
	f.expectOK(hosted, b)
}

package clients_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// sdkFlow is one flow as oauth-flow.mjs reports it.
type sdkFlow struct {
	ServerURL           string    `json:"serverUrl"`
	Resource            string    `json:"resource"`
	AuthorizationServer string    `json:"authorizationServer"`
	Issuer              string    `json:"issuer"`
	ClientID            string    `json:"clientId"`
	AuthorizationURL    string    `json:"authorizationUrl"`
	CallbackIss         string    `json:"callbackIss"`
	Issued              sdkTokens `json:"issued"`
	Refreshed           sdkTokens `json:"refreshed"`
	Invalidations       []string  `json:"invalidations"`
	Requests            []string  `json:"requests"`
}

type sdkTokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// TestSDKClientOAuthFlow runs the TypeScript SDK's client auth (auth() with
// an OAuthClientProvider) from the handle's compatibility URL and from the
// shared gateway URL: discovery, dynamic registration, authorization with
// PKCE through our sign-in and consent pages, code exchange and refresh.
// TestSDKClientMCP goes on to the MCP endpoint with such tokens.
//
// Without a scope the SDK asks for the resource's scopes_supported: on the
// compatibility URL the handle's connector scopes, on the shared gateway the
// whole catalogue, which consent narrows to what the chosen handle's
// connectors need (the third flow). The second passes a scope explicitly, as
// a WWW-Authenticate challenge would.
func TestSDKClientOAuthFlow(t *testing.T) {
	s := newStack(t)
	compat := s.cfg.CompatibilityURL(handle)
	gateway := s.cfg.GatewayURL()
	redirect := "http://127.0.0.1:33418/callback"
	flows, _ := json.Marshal([]map[string]string{
		{"serverUrl": compat},
		{"serverUrl": gateway, "scope": "mcp.connect skills.read", "handle": handle},
		{"serverUrl": gateway, "handle": handle},
	})
	start := time.Now()
	out := s.runNode(t, []string{
		"MCP_FLOWS=" + string(flows), "MCP_EMAIL=" + email, "MCP_PASSWORD=" + password, "MCP_REDIRECT_URL=" + redirect,
	}, "oauth-flow.mjs")
	t.Logf("oauth-flow.mjs took %s", time.Since(start).Round(time.Millisecond))
	var result struct {
		Node  string    `json:"node"`
		Flows []sdkFlow `json:"flows"`
	}
	if err := json.Unmarshal(out, &result); err != nil || len(result.Flows) != 3 {
		t.Fatalf("oauth-flow.mjs printed %d flows (%v):\n%s", len(result.Flows), err, out)
	}
	t.Logf("Node %s", result.Node)

	all := scopeStrings(mcpv1alpha1.AllScopes())
	for i, want := range []struct{ requested, granted []string }{
		{scopeStrings(handleScopes), scopeStrings(handleScopes)}, // the compatibility URL's scopes_supported
		{[]string{"mcp.connect", "skills.read"}, []string{"mcp.connect", "skills.read"}},
		{all, scopeStrings(handleScopes)}, // the gateway's scopes_supported, narrowed at consent
	} {
		f := result.Flows[i]
		t.Run(fmt.Sprintf("%d %s", i, f.ServerURL), func(t *testing.T) {
			f.check(t, s, want.requested, want.granted, redirect)
		})
	}
}

func (f *sdkFlow) check(t *testing.T, s *stack, requested, granted []string, redirect string) {
	t.Helper()
	// Discovery: RFC 9728 at the path-aware well-known URL, then RFC 8414.
	prm := s.origin + "/.well-known/oauth-protected-resource" + strings.TrimPrefix(f.ServerURL, s.origin)
	if !slices.Contains(f.Requests, "GET "+prm+" 200") {
		t.Errorf("no protected-resource metadata from %s; requests:\n%s", prm, strings.Join(f.Requests, "\n"))
	}
	if f.Resource != f.ServerURL || f.AuthorizationServer != s.origin || f.Issuer != s.origin {
		t.Errorf("discovery: resource %q, authorization server %q, issuer %q; want %q and %q", f.Resource, f.AuthorizationServer, f.Issuer, f.ServerURL, s.origin)
	}
	if !slices.Contains(f.Requests, "POST "+s.origin+"/oauth/register 201") || !strings.HasPrefix(f.ClientID, "dcr-") {
		t.Errorf("no dynamic registration (client %q); requests:\n%s", f.ClientID, strings.Join(f.Requests, "\n"))
	}

	// The authorization request the SDK built.
	u, err := url.Parse(f.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != s.origin+"/oauth/authorize" {
		t.Errorf("authorization endpoint %s", got)
	}
	if q.Get("resource") != f.ServerURL || q.Get("code_challenge_method") != "S256" || q.Get("redirect_uri") != redirect ||
		q.Get("client_id") != f.ClientID || !sameScopes(q.Get("scope"), requested) {
		t.Errorf("authorization request %s; want resource %s, S256, scopes %v", f.AuthorizationURL, f.ServerURL, requested)
	}
	if f.CallbackIss != s.origin {
		t.Errorf("iss in the code redirect %q, want %q", f.CallbackIss, s.origin)
	}

	// The tokens: bridge bearers that verify with the runtime's keys, for
	// alice on acme with the requested scopes, and a rotated refresh token.
	for name, tok := range map[string]sdkTokens{"issued": f.Issued, "refreshed": f.Refreshed} {
		if !strings.HasPrefix(tok.AccessToken, tokens.AccessPrefix) || !strings.HasPrefix(tok.RefreshToken, tokens.RefreshPrefix) ||
			!strings.EqualFold(tok.TokenType, "bearer") || tok.ExpiresIn != 3600 || !sameScopes(tok.Scope, granted) {
			t.Errorf("%s tokens %+v; want %s and %s tokens with scopes %v", name, tok, tokens.AccessPrefix, tokens.RefreshPrefix, granted)
			continue
		}
		a, err := s.keys.Keys().VerifyAccess(tok.AccessToken, time.Now())
		if err != nil || a.Handle != handle || a.Subject != "static#"+email || a.ClientID != f.ClientID || !sameScopes(strings.Join(scopeStrings(a.Scopes.Scopes()), " "), granted) {
			t.Errorf("%s access token %+v (%v)", name, a, err)
		}
	}
	if f.Refreshed.RefreshToken == f.Issued.RefreshToken {
		t.Error("the refresh did not rotate the refresh token")
	}
	if len(f.Invalidations) > 0 {
		t.Errorf("the SDK invalidated credentials %v: a step failed and was retried", f.Invalidations)
	}

	// The grant records the resource the SDK sent (RFC 8707), and the
	// dynamic client is now bound to it.
	grant, _ := tokens.ParseOpaque(tokens.RefreshPrefix, f.Refreshed.RefreshToken)
	conn := &mcpv1alpha1.Connection{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: grant}, conn); err != nil {
		t.Fatalf("grant %q: %v", grant, err)
	}
	if conn.Spec.Resource != f.ServerURL || conn.Spec.Handle != handle {
		t.Errorf("grant resource %q handle %q, want %q and %q", conn.Spec.Resource, conn.Spec.Handle, f.ServerURL, handle)
	}
	oc := &mcpv1alpha1.OAuthClient{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: f.ClientID}, oc); err != nil {
		t.Fatal(err)
	}
	gatewayClient := f.ServerURL == s.cfg.GatewayURL()
	if oc.Spec.Registration != mcpv1alpha1.RegistrationDynamic || oc.Spec.Gateway != gatewayClient || !gatewayClient && oc.Spec.Handle != handle ||
		oc.Spec.TokenEndpointAuthMethod != mcpv1alpha1.TokenEndpointAuthNone {
		t.Errorf("registered client %+v", oc.Spec)
	}
}

func scopeStrings(scopes []mcpv1alpha1.Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

// sameScopes compares a space-separated scope string with a set.
func sameScopes(got string, want []string) bool {
	g := strings.Fields(got)
	slices.Sort(g)
	w := slices.Clone(want)
	slices.Sort(w)
	return slices.Equal(g, w)
}

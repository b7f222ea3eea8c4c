package clients_test

import (
	"context"
	"encoding/json"
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
	// Refusal and ApproveOffered report the consent page of an
	// expectRefusal flow.
	Refusal        string `json:"refusal"`
	ApproveOffered bool   `json:"approveOffered"`
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
// On the shared gateway the flow passes scope explicitly (as a
// WWW-Authenticate challenge would). Without it the SDK asks for every scope
// in the gateway's scopes_supported, the whole catalogue, which a member of a
// handle offering fewer scopes cannot approve: the third flow pins that
// limitation (docs/development.md, "MCP client suites").
func TestSDKClientOAuthFlow(t *testing.T) {
	s := newStack(t)
	compat := s.cfg.CompatibilityURL(handle)
	gateway := s.cfg.GatewayURL()
	redirect := "http://127.0.0.1:33418/callback"
	flows, _ := json.Marshal([]map[string]string{
		{"serverUrl": compat},
		{"serverUrl": gateway, "scope": "mcp.connect skills.read", "handle": handle},
		{"serverUrl": gateway, "expectRefusal": "true"},
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

	wantScopes := map[string][]string{
		compat:  scopeStrings(handleScopes), // the compatibility URL's scopes_supported
		gateway: {"mcp.connect", "skills.read"},
	}
	for _, f := range result.Flows[:2] {
		t.Run(f.ServerURL, func(t *testing.T) {
			f.check(t, s, wantScopes[f.ServerURL], redirect)
		})
	}

	t.Run("shared gateway with the SDK's default scopes", func(t *testing.T) {
		f := result.Flows[2]
		u, err := url.Parse(f.AuthorizationURL)
		if err != nil {
			t.Fatal(err)
		}
		if !sameScopes(u.Query().Get("scope"), scopeStrings(mcpv1alpha1.AllScopes())) {
			t.Errorf("the SDK asked for %q; this case expects the whole catalogue (scopes_supported)", u.Query().Get("scope"))
		}
		if f.ApproveOffered || f.Refusal != "None of your handles lets you approve these scopes." {
			t.Errorf("consent page: refusal %q, approve offered %v", f.Refusal, f.ApproveOffered)
		}
	})
}

func (f *sdkFlow) check(t *testing.T, s *stack, wantScopes []string, redirect string) {
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
		q.Get("client_id") != f.ClientID || !sameScopes(q.Get("scope"), wantScopes) {
		t.Errorf("authorization request %s; want resource %s, S256, scopes %v", f.AuthorizationURL, f.ServerURL, wantScopes)
	}
	if f.CallbackIss != s.origin {
		t.Errorf("iss in the code redirect %q, want %q", f.CallbackIss, s.origin)
	}

	// The tokens: bridge bearers that verify with the runtime's keys, for
	// alice on acme with the requested scopes, and a rotated refresh token.
	for name, tok := range map[string]sdkTokens{"issued": f.Issued, "refreshed": f.Refreshed} {
		if !strings.HasPrefix(tok.AccessToken, tokens.AccessPrefix) || !strings.HasPrefix(tok.RefreshToken, tokens.RefreshPrefix) ||
			!strings.EqualFold(tok.TokenType, "bearer") || tok.ExpiresIn != 3600 || !sameScopes(tok.Scope, wantScopes) {
			t.Errorf("%s tokens %+v; want %s and %s tokens with scopes %v", name, tok, tokens.AccessPrefix, tokens.RefreshPrefix, wantScopes)
			continue
		}
		a, err := s.keys.Keys().VerifyAccess(tok.AccessToken, time.Now())
		if err != nil || a.Handle != handle || a.Subject != "static#"+email || a.ClientID != f.ClientID || !sameScopes(strings.Join(scopeStrings(a.Scopes.Scopes()), " "), wantScopes) {
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

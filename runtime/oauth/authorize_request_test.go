package oauth

import (
	"context"
	"errors"
	"net/url"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

type fakeClients map[string]*mcpv1alpha1.OAuthClient

func (f fakeClients) Client(_ context.Context, id string) (*mcpv1alpha1.OAuthClient, error) {
	return f[id], nil
}

const cb = "https://chatgpt.com/connector/oauth/cb_1"

func client(name string, spec mcpv1alpha1.OAuthClientSpec) *mcpv1alpha1.OAuthClient {
	spec.RedirectURIs = []mcpv1alpha1.RedirectURI{cb}
	return &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func TestParseAuthorizeRequest(t *testing.T) {
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	disabled := *cfg
	disabled.SharedGateway.Enabled = false
	clients := fakeClients{
		"shared":  client("shared", mcpv1alpha1.OAuthClientSpec{Gateway: true}),
		"acme":    client("acme", mcpv1alpha1.OAuthClientSpec{Handle: "acme", DefaultScopes: []mcpv1alpha1.Scope{"mcp.connect", "links.read"}}),
		"dynamic": client("dynamic", mcpv1alpha1.OAuthClientSpec{Registration: mcpv1alpha1.RegistrationDynamic}),
	}
	base := func(id string, edits ...string) url.Values {
		q := url.Values{"client_id": {id}, "redirect_uri": {cb}, "response_type": {"code"}, "state": {"s"},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(edits); i += 2 {
			if edits[i+1] == "" {
				q.Del(edits[i])
			} else {
				q.Set(edits[i], edits[i+1])
			}
		}
		return q
	}
	cases := []struct {
		name   string
		cfg    *platform.Config
		q      url.Values
		want   string // error code, "" for a valid request
		handle string
	}{
		{"shared app", cfg, base("shared", "resource", "https://ai.10x.in/mcp"), "", ""},
		{"shared gateway not deployed (the guide's row)", &disabled, base("shared", "resource", "https://ai.10x.in/mcp"), "invalid_target", ""},
		{"hosted, default resource and scopes", cfg, base("acme"), "", "acme"},
		{"compatibility URL", cfg, base("acme", "resource", "https://ai.10x.in/mcp/acme/mcp"), "", "acme"},
		{"another handle", cfg, base("acme", "resource", "https://beta.mcp.10x.in/mcp"), "invalid_target", ""},
		{"dynamic client, any resource", cfg, base("dynamic", "resource", "https://beta.mcp.10x.in/mcp"), "", "beta"},
		{"dynamic client without resource", cfg, base("dynamic"), "invalid_target", ""},
		{"repeated parameter", cfg, func() url.Values { q := base("acme"); q.Add("state", "t"); return q }(), "invalid_request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _, err := ParseAuthorizeRequest(context.Background(), tc.cfg, clients, tc.q)
			if tc.want == "" {
				if err != nil || req.Handle != tc.handle {
					t.Fatalf("request %+v, error %v", req, err)
				}
				return
			}
			var re *RedirectError
			var pe *Error
			switch {
			case errors.As(err, &re):
				if re.Err.Code != tc.want {
					t.Errorf("redirect error %s, want %s", re.Err.Code, tc.want)
				}
			case errors.As(err, &pe):
				if pe.Code != tc.want {
					t.Errorf("page error %s, want %s", pe.Code, tc.want)
				}
			default:
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}

	req, _, err := ParseAuthorizeRequest(context.Background(), cfg, clients, base("acme"))
	if err != nil || len(req.Scopes) != 2 || req.Scopes[1] != "links.read" {
		t.Errorf("a missing scope does not fall back to the client's defaults: %+v %v", req, err)
	}
}

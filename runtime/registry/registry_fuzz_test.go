package registry

import (
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// acceptable is the CRD's scheme rule: https or http on a loopback name,
// with a host; for a public client also a native app's private-use scheme
// (RFC 8252 section 7.1): lowercase, followed by ":/", none the browser
// handles itself.
func acceptable(u *url.URL, raw string, public bool) bool {
	if u.Scheme == "https" || u.Scheme == "http" && slices.Contains([]string{"localhost", "127.0.0.1", "::1"}, u.Hostname()) {
		return u.Host != ""
	}
	return public && privateUseForm.MatchString(raw) && !slices.Contains(mcpv1alpha1.NonPrivateUseSchemes, u.Scheme)
}

// privateUseForm is how a private-use redirect URI starts.
var privateUseForm = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:/`)

// FuzzRegistrationMetadata validates any RFC 7591 request body as the
// registration endpoint does: an accepted one becomes a spec the OAuthClient
// CRD accepts (1 to 16 https, or loopback http, redirect URIs without
// fragment; a name of at most 128 bytes; a known auth method and scopes) and
// is bound only to the exact canonical URL of a resource; a public client
// may also register a native app's private-use scheme; a refused one says
// invalid_redirect_uri or invalid_client_metadata.
func FuzzRegistrationMetadata(f *testing.F) {
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		f.Fatal(err)
	}
	r := &Registry{Config: cfg}
	for _, s := range []string{
		`{"redirect_uris":["https://chatgpt.com/connector/oauth/cb"],"token_endpoint_auth_method":"none","scope":"mcp.connect links.read"}`,
		`{"redirect_uris":["http://127.0.0.1:3000/cb","http://[::1]/cb","http://localhost./cb"]}`,
		`{"redirect_uris":["https://a.example/cb#x"]}`, `{"redirect_uris":["HTTPS://a.example/cb"]}`, `{"redirect_uris":["https:/a.example/cb"]}`,
		`{"redirect_uris":["javascript://a.example/%0aalert(1)"]}`, `{"redirect_uris":["https://a.example/cb"],"resource":"https://ACME.mcp.10x.in/mcp"}`,
		`{"redirect_uris":["https://a.example/cb"],"resource":"https://ai.10x.in/mcp"}`, `{"redirect_uris":["https://a.example/cb"],"client_name":"  "}`,
		`{"redirect_uris":["https://a.example/cb"],"grant_types":["authorization_code","implicit"]}`,
		`{"REDIRECT_URIS":["https://a.example/cb"],"Token_Endpoint_Auth_Method":"none"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var md Metadata
		if json.NewDecoder(strings.NewReader(body)).Decode(&md) != nil {
			return
		}
		spec, err := r.specFor(md, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalidRedirectURI) && !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		if n := len(spec.RedirectURIs); n == 0 || n > 16 {
			t.Fatalf("%q: %d redirect URIs", body, n)
		}
		for _, raw := range spec.RedirectURIs {
			u, err := url.Parse(string(raw))
			if err != nil || len(raw) > 2048 || strings.Contains(string(raw), "#") ||
				!acceptable(u, string(raw), spec.TokenEndpointAuthMethod == "none") {
				t.Fatalf("%q: accepted redirect URI %q", body, raw)
			}
			if !slices.Contains(md.RedirectURIs, string(raw)) {
				t.Fatalf("%q: redirect URI %q is not one sent", body, raw)
			}
		}
		if spec.ClientName == "" || len(spec.ClientName) > 128 {
			t.Fatalf("%q: name %q", body, spec.ClientName)
		}
		if !slices.Contains([]mcpv1alpha1.TokenEndpointAuthMethod{"none", "client_secret_basic", "client_secret_post"}, spec.TokenEndpointAuthMethod) {
			t.Fatalf("%q: auth method %q", body, spec.TokenEndpointAuthMethod)
		}
		for _, s := range spec.DefaultScopes {
			if _, ok := mcpv1alpha1.LookupScope(string(s)); !ok {
				t.Fatalf("%q: scope %q", body, s)
			}
		}
		switch {
		case spec.Gateway:
			if md.Resource != cfg.SharedGatewayURL() {
				t.Fatalf("%q: bound to the gateway by %q", body, md.Resource)
			}
		case spec.Handle != "":
			if md.Resource != cfg.HostedURL(spec.Handle) && md.Resource != cfg.CompatibilityURL(spec.Handle) {
				t.Fatalf("%q: bound to %s by %q", body, spec.Handle, md.Resource)
			}
		case md.Resource != "":
			t.Fatalf("%q: resource %q ignored", body, md.Resource)
		}
	})
}

package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
)

func fuzzConfig(f *testing.F) *platform.Config {
	f.Helper()
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		f.Fatal(err)
	}
	return cfg
}

var redirectSeeds = [][2]string{
	{cb, cb},
	{cb, cb + "/"},
	{cb, strings.ToUpper(cb)},
	{cb, "HTTPS://chatgpt.com/connector/oauth/cb_1"},
	{cb, "https://ChatGPT.com/connector/oauth/cb_1"},
	{cb, "https://chatgpt.com:443/connector/oauth/cb_1"},
	{cb, "https://chatgpt.com/connector/oauth/cb_%31"},
	{cb, "https://chatgpt.com/connector/oauth/./cb_1"},
	{cb, "https://chatgpt.com/connector/oauth/cb_1?x=1"},
	{cb, "https://chatgpt.com/connector/oauth/cb_1#x"},
	{cb, "https://chatgpt.com/connector/oauth/cb_2"},
	{cb, "https://chatgpt.com.evil.example/connector/oauth/cb_1"},
	{cb, "https://evil.example@chatgpt.com/connector/oauth/cb_1"},
	{cb, " " + cb},
	{"http://127.0.0.1:3000/cb?app=1", "http://127.0.0.1:3000/cb?app=1"},
	{"http://127.0.0.1:3000/cb?app=1", "http://localhost:3000/cb?app=1"},
}

// FuzzRedirectURIMatching checks that a redirect URI passes the trust check
// of an authorization request only when it is byte for byte the registered
// one, or both are plain http loopback URIs that differ in their port only
// (RFC 8252 section 7.3): no normalisation (case, escapes, dot segments,
// slashes, query, fragment, Unicode) makes two other strings match. A
// mismatch is never answered with a redirect.
func FuzzRedirectURIMatching(f *testing.F) {
	cfg := fuzzConfig(f)
	for _, s := range redirectSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, presented string) {
		clients := fakeClients{"acme": &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "acme"},
			Spec: mcpv1alpha1.OAuthClientSpec{Handle: "acme", RedirectURIs: []mcpv1alpha1.RedirectURI{mcpv1alpha1.RedirectURI(registered)}}}}
		q := url.Values{"client_id": {"acme"}, "redirect_uri": {presented}, "response_type": {"code"}, "state": {"s"},
			"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}, "resource": {"https://acme.mcp.10x.in/mcp"}}
		req, _, err := ParseAuthorizeRequest(context.Background(), cfg, clients, q)
		var redirect *RedirectError
		var plain *Error
		switch {
		case presented != registered && !samePortlessLoopback(registered, presented):
			if !errors.As(err, &plain) || plain.Code != "invalid_request" || errors.As(err, &redirect) {
				t.Fatalf("registered %q, presented %q: %v, want the error page", registered, presented, err)
			}
		case err != nil:
			if !errors.As(err, &redirect) || redirect.RedirectURI != presented {
				t.Fatalf("registered %q, presented %q: %v", registered, presented, err)
			}
		default:
			if req.RedirectURI != presented {
				t.Fatalf("registered %q, presented %q, request carries %q", registered, presented, req.RedirectURI)
			}
		}
	})
}

// portlessLoopback is a plain http loopback URI, split around its port (an
// oracle of its own, not the code under test).
var portlessLoopback = regexp.MustCompile(`^http://(127\.0\.0\.1|localhost|\[::1\])(?::[0-9]*)?([/?][^#]*)?$`)

// samePortlessLoopback reports whether a and b are plain http loopback URIs
// that differ in their port only.
func samePortlessLoopback(a, b string) bool {
	ma, mb := portlessLoopback.FindStringSubmatch(a), portlessLoopback.FindStringSubmatch(b)
	return ma != nil && mb != nil && ma[1] == mb[1] && ma[2] == mb[2]
}

// FuzzRedirectLocation checks the redirects back to a client: the target
// starts with the registered URI exactly, and whatever state the client sent
// comes back as the state only, never as another parameter (no injected code,
// error or iss).
func FuzzRedirectLocation(f *testing.F) {
	for _, s := range []string{"xyz", "a&code=evil", "a#frag", "a%26code%3Devil", "a\r\nLocation: https://evil", "", "?", "&&&", "é"} {
		f.Add(cb, s)
		f.Add("http://127.0.0.1:3000/cb?app=1", s)
		f.Add("cursor://anysphere.cursor-mcp/oauth/callback", s)
	}
	f.Fuzz(func(t *testing.T, redirectURI, state string) {
		if mcpv1alpha1.RedirectURI(redirectURI).Validate() != nil {
			return // never registered
		}
		for name, loc := range map[string]string{
			"code":  CodeLocation(&AuthorizeRequest{RedirectURI: redirectURI, State: state}, "mcpc1_code", "https://ai.10x.in"),
			"error": (&RedirectError{Err: Errorf(http.StatusFound, oautherr.AccessDenied, "no"), RedirectURI: redirectURI, State: state}).Location("https://ai.10x.in"),
		} {
			if !strings.HasPrefix(loc, redirectURI) {
				t.Fatalf("%s redirect %q does not start with %q", name, loc, redirectURI)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("%s redirect %q: %v", name, loc, err)
			}
			q := u.Query()
			orig, _ := url.Parse(redirectURI)
			for k := range orig.Query() {
				q.Del(k)
			}
			want := url.Values{"iss": {"https://ai.10x.in"}}
			if name == "code" {
				want.Set("code", "mcpc1_code")
			} else {
				want.Set("error", "access_denied")
				want.Set("error_description", "no")
			}
			if state != "" {
				want.Set("state", state)
			}
			if q.Encode() != want.Encode() || u.Fragment != "" {
				t.Fatalf("%s redirect %q carries %v (fragment %q), want %v", name, loc, q, u.Fragment, want)
			}
		}
	})
}

// FuzzRegistrationBody sends any body to the registration endpoint's reader:
// what it accepts is exactly a JSON client metadata object of at most 64 KiB
// (unknown members ignored); everything else, too large or deeply nested
// included, is a 400 invalid_client_metadata JSON error.
func FuzzRegistrationBody(f *testing.F) {
	for _, s := range []string{
		`{"redirect_uris":["https://a.example/cb"],"client_name":"x"}`, `{}`, `null`, `[]`, `"x"`, `{"redirect_uris":"x"}`,
		`{"redirect_uris":["a"]} trailing`, strings.Repeat("[", 20000), `{"a":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat("}", 5001),
		`{"redirect_uris":["` + strings.Repeat("a", 70<<10) + `"]}`, `{"client_name":"<script>alert(1)</script>"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "https://ai.10x.in/oauth/register", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		md, ok := readMetadata(w, r)
		var want registry.Metadata
		dec := json.NewDecoder(strings.NewReader(body))
		decodable := len(body) <= maxRegistrationBody && dec.Decode(&want) == nil
		if ok != decodable {
			t.Fatalf("%.80q: accepted %v, decodable within 64 KiB %v", body, ok, decodable)
		}
		if ok {
			if !slices.Equal(md.RedirectURIs, want.RedirectURIs) || md.ClientName != want.ClientName || md.Resource != want.Resource {
				t.Fatalf("%.80q read as %+v", body, md)
			}
			return
		}
		var e Error
		if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Code != "invalid_client_metadata" {
			t.Fatalf("%.80q: %d %s", body, w.Code, w.Body)
		}
	})
}

// FuzzParseClientMetadataDocument checks a client ID metadata document's
// validation: an accepted document names exactly the URL it was fetched
// from, is a public client, has at least one redirect URI (each acceptable,
// none twice) and a printable name of at most 64 characters; a document with
// a client secret is never accepted.
func FuzzParseClientMetadataDocument(f *testing.F) {
	const id = "https://app.example.com/client.json"
	for _, s := range []string{
		validDoc(id), validDoc(id + "/"), validDoc(strings.ToUpper(id)), validDoc(id, `"client_secret":"x"`),
		`{"client_id":"` + id + `","redirect_uris":["https://a.example/cb","https://a.example/cb","myapp://x","http://localhost/cb"]}`,
		`{"client_id":"` + id + `","redirect_uris":["https://a.example/cb"],"client_name":"Chat\u202eGPT <script>\u0007"}`,
		`{"client_id":"` + id + `","CLIENT_ID":"https://evil.example/c.json","redirect_uris":["https://a.example/cb"]}`,
		`{"client_id":"` + id + `","redirect_uris":["https://a.example/cb"],"Client_Secret":"x"}`,
		`{"client_id":"` + id + `","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"None"}`,
		`null`, `[]`, `{"client_id":"` + id + `","redirect_uris":[null,1,"https://a.example/cb"]}`,
	} {
		f.Add(id, s)
	}
	f.Fuzz(func(t *testing.T, clientID, body string) {
		doc, reason := ParseClientMetadataDocument(clientID, []byte(body))
		if (doc == nil) == (reason == "") {
			t.Fatalf("%q: document %v with reason %q", body, doc, reason)
		}
		if doc == nil {
			return
		}
		var members map[string]json.RawMessage
		_ = json.Unmarshal([]byte(body), &members)
		for k := range members {
			if strings.EqualFold(k, "client_secret") || strings.EqualFold(k, "client_secret_expires_at") {
				t.Fatalf("%q: accepted with %s", body, k)
			}
		}
		if doc.ClientID != clientID || doc.TokenEndpointAuthMethod != "" && doc.TokenEndpointAuthMethod != "none" || len(doc.RedirectURIs) == 0 {
			t.Fatalf("%q: accepted %+v for %q", body, doc, clientID)
		}
		for i, u := range doc.RedirectURIs {
			if mcpv1alpha1.RedirectURI(u).Validate() != nil || slices.Contains(doc.RedirectURIs[:i], u) {
				t.Fatalf("%q: redirect URI %q", body, u)
			}
		}
		if utf8.RuneCountInString(doc.ClientName) > maxClientNameRunes || sanitizeClientName(doc.ClientName) != doc.ClientName {
			t.Fatalf("%q: client name %q", body, doc.ClientName)
		}
		for _, r := range doc.ClientName {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || !unicode.IsPrint(r) && r != ' ' {
				t.Fatalf("%q: client name %q keeps %U", body, doc.ClientName, r)
			}
		}
	})
}

// FuzzCheckClientIDURL checks the client identifier URL rules: an accepted
// URL is https with a host and a path other than "/", without fragment, user
// information or dot segments, at most 2048 bytes.
func FuzzCheckClientIDURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/client.json", "https://example.com/", "https://example.com/a/%2e%2e/c", "https://u@example.com/c",
		"https://example.com/c#f", "https:///c", "https://example.com/./c", "https://[::1]/c", "https://example.com:99999/c",
		"https://example.com/%zz", "https://exa mple.com/c", "https://example.com\\@evil.example/c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if err := CheckClientIDURL(raw); err != nil {
			var de *MetadataDocumentError
			if !errors.As(err, &de) || de.URL != raw {
				t.Fatalf("%q: error %v", raw, err)
			}
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") ||
			u.Path == "" || u.Path == "/" || len(raw) > 2048 || !IsMetadataDocumentClientID(raw) {
			t.Fatalf("accepted %q (%+v, %v)", raw, u, err)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted %q with a dot segment", raw)
			}
		}
	})
}

// FuzzProtectedResourceMetadata checks the RFC 9728 builder for any handle
// the routing accepts and any display name: the JSON document parses back,
// names exactly the resource, the configured issuer as its only
// authorization server, the handle's scopes, and the name as given.
func FuzzProtectedResourceMetadata(f *testing.F) {
	cfg := fuzzConfig(f)
	for _, s := range [][2]string{{"acme", ""}, {"acme", "Acme <Corp> \"quoted\""}, {"beta", "\u202e\x00"}, {"", ""}} {
		f.Add(s[0], s[1], true)
	}
	f.Fuzz(func(t *testing.T, handle, display string, gateway bool) {
		if !utf8.ValidString(display) {
			return // the apiserver stores only UTF-8 strings
		}
		res, ok := cfg.ResourceAt(handle+"."+cfg.MCPDomain, platform.MCPPath)
		var h *mcpv1alpha1.Handle
		scopes := mcpv1alpha1.AllScopes()
		if gateway || !ok {
			res, _ = cfg.ResourceAt(cfg.GatewayHost, platform.MCPPath)
		} else {
			h = &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: res.Handle}, Spec: mcpv1alpha1.HandleSpec{DisplayName: display}}
			scopes = h.ConnectorScopes(nil)
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(NewProtectedResourceMetadata(cfg, res, h, scopes)); err != nil {
			t.Fatal(err)
		}
		var got ProtectedResourceMetadata
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%s does not parse: %v", buf.Bytes(), err)
		}
		back, ok := cfg.ResourceOf(got.Resource)
		if !ok || back != res || !slices.Equal(got.AuthorizationServers, []string{cfg.Issuer}) || !slices.Equal(got.BearerMethodsSupported, []string{"header"}) {
			t.Fatalf("%s for %+v", buf.Bytes(), res)
		}
		wantScopes, wantName := mcpv1alpha1.AllScopes(), "MCP (shared)"
		if h != nil {
			wantScopes, wantName = mcpv1alpha1.ConnectScopes, h.Name+" MCP"
			if display != "" {
				wantName = display + " MCP"
			}
		}
		if !slices.Equal(got.ScopesSupported, scopeStrings(wantScopes)) || got.ResourceName != wantName {
			t.Fatalf("%s: scopes or name, want %v %q", buf.Bytes(), wantScopes, wantName)
		}
		// The authorization server's document does not depend on the
		// request: every endpoint is on the issuer.
		as := NewAuthorizationServerMetadata(cfg)
		for _, e := range []string{as.AuthorizationEndpoint, as.TokenEndpoint, as.RegistrationEndpoint, as.RevocationEndpoint, as.JWKSURI} {
			if !strings.HasPrefix(e, cfg.Issuer+"/") {
				t.Fatalf("endpoint %q is not on the issuer %q", e, cfg.Issuer)
			}
		}
	})
}

package v1alpha1_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// celCase is one manifest applied to the real apiserver. An empty wantField
// and wantMessage means the manifest must be accepted.
type celCase struct {
	name        string
	manifest    string
	wantField   string
	wantMessage string
}

// updateCase creates manifest, then updates it to update and expects the
// outcome of the embedded celCase.
type updateCase struct {
	celCase
	update string
}

func TestHandleValidation(t *testing.T) {
	long := strings.Repeat("a", 64)
	cases := []celCase{
		{name: "minimal", manifest: handle("acme", `{}`)},
		{name: "63 characters", manifest: handle(long[:63], `{}`)},
		{name: "full", manifest: handle("full", `
displayName: Full Example
members:
  - user: owner@example.com
    role: Admin
  - group: marketing
    scopes: [mcp.connect, links.read]
scopes: [mcp.connect, skills.read, links.read, links.write]
toolsets: [{name: links}]
suspended: true`)},
		{name: "64 characters", manifest: handle(long, `{}`), wantField: "<root>",
			wantMessage: "a handle's name must be an RFC 1123 DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"},
		{name: "dotted name", manifest: handle("acme.corp", `{}`), wantField: "<root>",
			wantMessage: "a handle's name must be an RFC 1123 DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"},
		{name: "member with user and group", manifest: handle("m1", `{members: [{user: a@example.com, group: g}]}`),
			wantField: "spec.members[0]", wantMessage: "exactly one of user or group must be set"},
		{name: "member with neither", manifest: handle("m2", `{members: [{role: Admin}]}`),
			wantField: "spec.members[0]", wantMessage: "exactly one of user or group must be set"},
		{name: "user not an email", manifest: handle("m3", `{members: [{user: alice}]}`),
			wantField: "spec.members[0].user", wantMessage: "user must be an email address"},
		{name: "duplicate user", manifest: handle("m4", `{members: [{user: a@example.com}, {user: a@example.com, role: Admin}]}`),
			wantField: "spec.members", wantMessage: "each user may be listed once"},
		{name: "duplicate group", manifest: handle("m5", `{members: [{group: g}, {group: g}]}`),
			wantField: "spec.members", wantMessage: "each group may be listed once"},
		{name: "member scope not offered", manifest: handle("m6", `{scopes: [mcp.connect, skills.read], members: [{group: g, scopes: [links.write]}]}`),
			wantField: "spec", wantMessage: "members[].scopes must be a subset of spec.scopes"},
		{name: "scopes without mcp.connect", manifest: handle("s1", `{scopes: [skills.read]}`),
			wantField: "spec.scopes", wantMessage: "scopes must include mcp.connect: without it no client can open an MCP session"},
		{name: "unknown scope", manifest: handle("s2", `{scopes: [mcp.connect, links.admin]}`),
			wantField: "spec.scopes[1]", wantMessage: `Unsupported value: "links.admin"`},
		{name: "unknown role", manifest: handle("r1", `{members: [{user: a@example.com, role: Owner}]}`),
			wantField: "spec.members[0].role", wantMessage: `Unsupported value: "Owner"`},
		{name: "duplicate toolset", manifest: handle("t1", `{toolsets: [{name: links}, {name: links}]}`),
			wantField: "spec.toolsets[1]", wantMessage: `Duplicate value: {"name":"links"}`},
		{name: "rate limits", manifest: handle("rl1", `{rateLimit: {perGrant: {requestsPerMinute: 120, burst: 20}, perHandle: {requestsPerMinute: 0}}}`)},
		{name: "burst without a rate", manifest: handle("rl2", `{rateLimit: {perGrant: {requestsPerMinute: 0, burst: 5}}}`),
			wantField: "spec.rateLimit.perGrant", wantMessage: "burst needs a requestsPerMinute above 0"},
		{name: "empty rate limit", manifest: handle("rl3", `{rateLimit: {}}`),
			wantField: "spec.rateLimit", wantMessage: "Invalid value: 0: spec.rateLimit in body should have at least 1 properties"},
		{name: "rate beyond the bound", manifest: handle("rl4", `{rateLimit: {perHandle: {requestsPerMinute: 1000001}}}`),
			wantField: "spec.rateLimit.perHandle.requestsPerMinute", wantMessage: "Invalid value: 1000001: spec.rateLimit.perHandle.requestsPerMinute in body should be less than or equal to 1000000"},
	}
	for _, reserved := range v1alpha1.ReservedHandleNames {
		cases = append(cases, celCase{name: "reserved " + reserved, manifest: handle(reserved, `{}`),
			wantField: "<root>", wantMessage: "this handle name is reserved by the platform"})
	}
	runCases(t, cases)
}

func TestHandleDefaults(t *testing.T) {
	obj := apply(t, handle("defaults", `{members: [{user: a@example.com}]}`))
	members, _, _ := unstructured.NestedSlice(obj.Object, "spec", "members")
	if got := members[0].(map[string]any)["role"]; got != "Viewer" {
		t.Errorf("members[0].role defaulted to %v, want Viewer", got)
	}
}

const bindingMessage = "exactly one of handle or gateway=true must be set: a client is bound to one handle or to the shared gateway (only a dynamically registered client may stay unbound until its first authorization)"

const (
	httpMessage   = "redirect URIs must be absolute URLs; http is allowed only for localhost, 127.0.0.1 and [::1]"
	schemeMessage = "a redirect URI's scheme must be https, http (loopback only) or a native app's private-use scheme: lowercase, followed by :/, and not one the browser handles itself (javascript, data, file, ...)"
)

func TestOAuthClientValidation(t *testing.T) {
	const cb = "https://chatgpt.com/connector/oauth/cb_1"
	cases := []celCase{
		{name: "handle client", manifest: oauthClient("c1", `{handle: acme, clientName: ChatGPT, redirectURIs: [`+cb+`]}`)},
		{name: "gateway client", manifest: oauthClient("c2", `{gateway: true, clientName: ChatGPT, redirectURIs: [`+cb+`], tokenEndpointAuthMethod: client_secret_basic}`)},
		{name: "loopback redirects", manifest: oauthClient("c3", `{handle: acme, clientName: CLI, redirectURIs: ["http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:3000/cb"]}`)},
		{name: "metadata document", manifest: oauthClient("c4", `{handle: acme, clientName: CIMD, redirectURIs: [`+cb+`], registration: MetadataDocument, metadataDocumentURL: "https://client.example.com/oauth/metadata.json"}`)},
		{name: "handle and gateway", manifest: oauthClient("e1", `{handle: acme, gateway: true, clientName: x, redirectURIs: [`+cb+`]}`),
			wantField: "spec", wantMessage: bindingMessage},
		{name: "neither handle nor gateway", manifest: oauthClient("e2", `{clientName: x, redirectURIs: [`+cb+`]}`),
			wantField: "spec", wantMessage: bindingMessage},
		{name: "gateway false", manifest: oauthClient("e3", `{gateway: false, clientName: x, redirectURIs: [`+cb+`]}`),
			wantField: "spec", wantMessage: bindingMessage},
		{name: "unbound dynamic client", manifest: oauthClient("c5", `{clientName: x, redirectURIs: [`+cb+`], registration: Dynamic}`)},
		{name: "no redirect URIs", manifest: oauthClient("e4", `{handle: acme, clientName: x, redirectURIs: []}`),
			wantField: "spec.redirectURIs", wantMessage: "spec.redirectURIs in body should have at least 1 items"},
		{name: "too many redirect URIs", manifest: oauthClient("e5", `{handle: acme, clientName: x, redirectURIs: [`+manyURIs(17)+`]}`),
			wantField: "spec.redirectURIs", wantMessage: "Too many: 17: must have at most 16 items"},
		{name: "http redirect on a public host", manifest: oauthClient("e6", `{handle: acme, clientName: x, redirectURIs: ["http://chatgpt.com/cb"]}`),
			wantField: "spec.redirectURIs[0]", wantMessage: httpMessage},
		{name: "relative redirect", manifest: oauthClient("e7", `{handle: acme, clientName: x, redirectURIs: ["chatgpt.com/connector/oauth/cb"]}`),
			wantField: "spec.redirectURIs[0]", wantMessage: httpMessage},
		{name: "redirect with fragment", manifest: oauthClient("e8", `{handle: acme, clientName: x, redirectURIs: ["https://chatgpt.com/cb#frag"]}`),
			wantField: "spec.redirectURIs[0]", wantMessage: "redirect URIs must not contain a fragment"},
		{name: "default scopes beyond allowed", manifest: oauthClient("e9", `{handle: acme, clientName: x, redirectURIs: [`+cb+`], allowedScopes: [mcp.connect, skills.read], defaultScopes: [mcp.connect, links.read]}`),
			wantField: "spec", wantMessage: "defaultScopes must be a subset of allowedScopes"},
		{name: "unknown auth method", manifest: oauthClient("e10", `{handle: acme, clientName: x, redirectURIs: [`+cb+`], tokenEndpointAuthMethod: private_key_jwt}`),
			wantField: "spec.tokenEndpointAuthMethod", wantMessage: `Unsupported value: "private_key_jwt"`},
		{name: "metadata document without URL", manifest: oauthClient("e11", `{handle: acme, clientName: x, redirectURIs: [`+cb+`], registration: MetadataDocument}`),
			wantField: "spec", wantMessage: "metadataDocumentURL is required for, and only for, registration MetadataDocument"},
		{name: "URL without metadata document", manifest: oauthClient("e12", `{handle: acme, clientName: x, redirectURIs: [`+cb+`], metadataDocumentURL: "https://client.example.com/m.json"}`),
			wantField: "spec", wantMessage: "metadataDocumentURL is required for, and only for, registration MetadataDocument"},
		{name: "http metadata document", manifest: oauthClient("e13", `{handle: acme, clientName: x, redirectURIs: [`+cb+`], registration: MetadataDocument, metadataDocumentURL: "http://client.example.com/m.json"}`),
			wantField: "spec.metadataDocumentURL", wantMessage: "metadataDocumentURL must be an https URL with a path"},
		{name: "metadata document without path", manifest: oauthClient("e14", `{handle: acme, clientName: x, redirectURIs: [`+cb+`], registration: MetadataDocument, metadataDocumentURL: "https://client.example.com/"}`),
			wantField: "spec.metadataDocumentURL", wantMessage: "metadataDocumentURL must be an https URL with a path"},
		{name: "handle not a DNS label", manifest: oauthClient("e15", `{handle: Acme, clientName: x, redirectURIs: [`+cb+`]}`),
			wantField: "spec.handle", wantMessage: `spec.handle in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`},
		{name: "private-use redirects", manifest: oauthClient("p1", `{handle: acme, clientName: Cursor, redirectURIs: ["cursor://anysphere.cursor-mcp/oauth/callback", "vscode://vscode.github-authentication/did-authenticate", "com.example.app:/oauth2redirect"]}`)},
		{name: "private-use redirect of a confidential client", manifest: oauthClient("p2", `{handle: acme, clientName: x, redirectURIs: [`+cb+`, "cursor://anysphere.cursor-mcp/oauth/callback"], tokenEndpointAuthMethod: client_secret_basic}`),
			wantField: "spec", wantMessage: "private-use redirect URIs (native apps, RFC 8252 section 7.1) are for public clients only: tokenEndpointAuthMethod must be none"},
		{name: "private-use scheme in capitals", manifest: oauthClient("p3", `{handle: acme, clientName: x, redirectURIs: ["Cursor://anysphere.cursor-mcp/oauth/callback"]}`),
			wantField: "spec.redirectURIs[0]", wantMessage: schemeMessage},
		{name: "private-use scheme without a slash", manifest: oauthClient("p4", `{handle: acme, clientName: x, redirectURIs: ["com.example.app:callback"]}`),
			wantField: "spec.redirectURIs[0]", wantMessage: schemeMessage},
		{name: "private-use redirect with user information", manifest: oauthClient("p5", `{handle: acme, clientName: x, redirectURIs: ["cursor://evil@anysphere.cursor-mcp/oauth/callback"]}`),
			wantField: "spec.redirectURIs[0]", wantMessage: "redirect URIs must not contain user information (user@host)"},
		{name: "private-use redirect with fragment", manifest: oauthClient("p6", `{handle: acme, clientName: x, redirectURIs: ["cursor://anysphere.cursor-mcp/oauth/callback#x"]}`),
			wantField: "spec.redirectURIs[0]", wantMessage: "redirect URIs must not contain a fragment"},
	}
	// The Go list and the CEL rule's list must agree: each listed scheme is
	// refused by the apiserver too (http by the loopback rule).
	for i, scheme := range v1alpha1.NonPrivateUseSchemes {
		c := celCase{name: "scheme " + scheme, manifest: oauthClient(fmt.Sprintf("s%d", i), `{handle: acme, clientName: x, redirectURIs: ["`+scheme+`://example.com/cb"]}`),
			wantField: "spec.redirectURIs[0]", wantMessage: schemeMessage}
		if scheme == "http" {
			c.wantMessage = httpMessage
		}
		cases = append(cases, c)
	}
	runCases(t, cases)

	runUpdateCases(t, []updateCase{
		{celCase: celCase{name: "rebind handle", manifest: oauthClient("u1", `{handle: acme, clientName: x, redirectURIs: [`+cb+`]}`),
			wantField: "spec", wantMessage: "the binding to a handle or to the gateway is immutable: register a new client instead"},
			update: oauthClient("u1", `{handle: other, clientName: x, redirectURIs: [`+cb+`]}`)},
		{celCase: celCase{name: "handle to gateway", manifest: oauthClient("u2", `{handle: acme, clientName: x, redirectURIs: [`+cb+`]}`),
			wantField: "spec", wantMessage: "the binding to a handle or to the gateway is immutable: register a new client instead"},
			update: oauthClient("u2", `{gateway: true, clientName: x, redirectURIs: [`+cb+`]}`)},
		{celCase: celCase{name: "bind a dynamic client once", manifest: oauthClient("u4", `{clientName: x, redirectURIs: [`+cb+`], registration: Dynamic}`)},
			update: oauthClient("u4", `{handle: acme, clientName: x, redirectURIs: [`+cb+`], registration: Dynamic}`)},
		{celCase: celCase{name: "gateway to handle", manifest: oauthClient("u5", `{gateway: true, clientName: x, redirectURIs: [`+cb+`]}`),
			wantField: "spec", wantMessage: "the binding to a handle or to the gateway is immutable: register a new client instead"},
			update: oauthClient("u5", `{handle: acme, clientName: x, redirectURIs: [`+cb+`]}`)},
		{celCase: celCase{name: "repair redirect URIs", manifest: oauthClient("u3", `{handle: acme, clientName: x, redirectURIs: [`+cb+`]}`)},
			update: oauthClient("u3", `{handle: acme, clientName: x, redirectURIs: [`+cb+`, "https://chatgpt.com/connector/oauth/cb_2"]}`)},
	})
}

func TestToolsetValidation(t *testing.T) {
	cases := []celCase{
		{name: "minimal", manifest: toolset("t1", `{url: "http://links.mcp-system.svc:8080/mcp"}`)},
		{name: "full", manifest: toolset("t2", `{url: "https://tools.example.com/mcp", timeout: 30s, scopes: {read: [links.read], write: [links.write]}, tools: [{name: delete_link, scopes: [links.write]}]}`)},
		{name: "not a URL", manifest: toolset("e1", `{url: "tools.example.com/mcp"}`),
			wantField: "spec.url", wantMessage: "url must be an absolute http or https URL"},
		{name: "ftp URL", manifest: toolset("e2", `{url: "ftp://tools.example.com/mcp"}`),
			wantField: "spec.url", wantMessage: "url must be an absolute http or https URL"},
		{name: "zero timeout", manifest: toolset("e3", `{url: "https://tools.example.com/mcp", timeout: 0s}`),
			wantField: "spec.timeout", wantMessage: "timeout must be more than 0s and at most 5m"},
		{name: "timeout too long", manifest: toolset("e4", `{url: "https://tools.example.com/mcp", timeout: 10m}`),
			wantField: "spec.timeout", wantMessage: "timeout must be more than 0s and at most 5m"},
		{name: "override without scopes", manifest: toolset("e5", `{url: "https://tools.example.com/mcp", tools: [{name: x}]}`),
			wantField: "spec.tools[0].scopes", wantMessage: "Required value"},
		{name: "unknown scope", manifest: toolset("e6", `{url: "https://tools.example.com/mcp", scopes: {read: [links.list]}}`),
			wantField: "spec.scopes.read[0]", wantMessage: `Unsupported value: "links.list"`},
	}
	runCases(t, cases)

	obj := apply(t, toolset("defaults", `{url: "https://tools.example.com/mcp"}`))
	if got, _, _ := unstructured.NestedString(obj.Object, "spec", "timeout"); got != "10s" {
		t.Errorf("timeout defaulted to %q, want 10s", got)
	}
}

func TestConnectionValidation(t *testing.T) {
	const spec = `{handle: acme, clientID: c-1, subject: "https://idp.example.com#alice", resource: "https://acme.mcp.10x.in/mcp", scopes: [mcp.connect, skills.read]}`
	runCases(t, []celCase{
		{name: "valid", manifest: connection("g1", spec)},
		{name: "no scopes", manifest: connection("e1", `{handle: acme, clientID: c-1, subject: s, resource: "https://acme.mcp.10x.in/mcp", scopes: []}`),
			wantField: "spec.scopes", wantMessage: "spec.scopes in body should have at least 1 items"},
	})
	runUpdateCases(t, []updateCase{
		{celCase: celCase{name: "rebind handle", manifest: connection("u1", spec), wantField: "spec.handle", wantMessage: "handle is immutable"},
			update: connection("u1", strings.Replace(spec, "handle: acme", "handle: other", 1))},
		{celCase: celCase{name: "change subject", manifest: connection("u2", spec), wantField: "spec.subject", wantMessage: "subject is immutable"},
			update: connection("u2", strings.Replace(spec, "#alice", "#mallory", 1))},
		{celCase: celCase{name: "narrow scopes", manifest: connection("u3", spec)},
			update: connection("u3", strings.Replace(spec, "mcp.connect, skills.read", "mcp.connect", 1))},
	})
}

func runCases(t *testing.T, cases []celCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := decode(t, tc.manifest)
			err := env.Client.Create(context.Background(), obj)
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
			checkError(t, err, tc)
		})
	}
}

func runUpdateCases(t *testing.T, cases []updateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			created := apply(t, tc.manifest)
			updated := decode(t, tc.update)
			updated.SetResourceVersion(created.GetResourceVersion())
			checkError(t, env.Client.Update(context.Background(), updated), tc.celCase)
		})
	}
}

// checkError asserts that err is nil for a valid case, or an Invalid error
// with a cause on the wanted field whose message is, or ends with, the
// wanted message.
func checkError(t *testing.T, err error, tc celCase) {
	t.Helper()
	if tc.wantMessage == "" {
		if err != nil {
			t.Fatalf("want the manifest accepted, got: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %s: %s, got the manifest accepted", tc.wantField, tc.wantMessage)
	}
	var status *apierrors.StatusError
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) || status.ErrStatus.Details == nil {
		t.Fatalf("want an Invalid error, got: %v", err)
	}
	var causes []string
	for _, c := range status.ErrStatus.Details.Causes {
		field := c.Field
		if field == "" || field == "<nil>" {
			field = "<root>"
		}
		if field == tc.wantField && (c.Message == tc.wantMessage || strings.HasSuffix(c.Message, ": "+tc.wantMessage) || strings.HasPrefix(c.Message, tc.wantMessage)) {
			return
		}
		causes = append(causes, fmt.Sprintf("%s: %s", field, c.Message))
	}
	t.Fatalf("want %s: %s\ngot causes:\n  %s", tc.wantField, tc.wantMessage, strings.Join(causes, "\n  "))
}

func apply(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := decode(t, manifest)
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("failed to create %s: %v", obj.GetName(), err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
	return obj
}

func decode(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Fatalf("bad test manifest: %v\n%s", err, manifest)
	}
	return obj
}

func manifest(kind, name, spec string) string {
	return fmt.Sprintf("apiVersion: mcp.10x.in/v1alpha1\nkind: %s\nmetadata:\n  name: %s\nspec: %s\n", kind, name, indent(spec))
}

func indent(spec string) string { return strings.ReplaceAll(spec, "\n", "\n  ") }

func handle(name, spec string) string      { return manifest("Handle", name, spec) }
func oauthClient(name, spec string) string { return manifest("OAuthClient", name, spec) }
func toolset(name, spec string) string     { return manifest("Toolset", name, spec) }
func connection(name, spec string) string  { return manifest("Connection", name, spec) }

func manyURIs(n int) string {
	uris := make([]string, n)
	for i := range uris {
		uris[i] = fmt.Sprintf("https://chatgpt.com/connector/oauth/cb_%d", i)
	}
	return strings.Join(uris, ", ")
}

package platform

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const valid = `
mcpDomain: mcp.10x.in
gatewayHost: ai.10x.in
namespace: mcp-system
gatewayRefs: [{name: mcp-gateway, namespace: mcp-system, sectionName: https}]
runtimeService: {name: mcp-runtime, namespace: mcp-system, port: 8080}
tls: {issuerRef: {name: letsencrypt}}
sharedGateway: {enabled: true}
legacyAuthorizationServers: [api.10x.in]
`

func TestParseDefaultsAndURLs(t *testing.T) {
	c, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"issuer":           {c.Issuer, "https://ai.10x.in"},
		"tls.mode":         {c.TLS.Mode, TLSModeWildcard},
		"issuerRef.kind":   {c.TLS.IssuerRef.Kind, "ClusterIssuer"},
		"issuerRef.group":  {c.TLS.IssuerRef.Group, "cert-manager.io"},
		"platform secret":  {c.TLS.SecretName, "mcp-platform-tls"},
		"hosted URL":       {c.HostedURL("acme"), "https://acme.mcp.10x.in/mcp"},
		"gateway URL":      {c.GatewayURL(), "https://ai.10x.in/mcp"},
		"compatibility":    {c.CompatibilityURL("acme"), "https://ai.10x.in/mcp/acme/mcp"},
		"compat path":      {CompatibilityPath("acme"), "/mcp/acme/mcp"},
		"hosted host":      {c.HostedHost("acme"), "acme.mcp.10x.in"},
		"default port URL": {c.origin("ai.10x.in"), "https://ai.10x.in"},
	}
	for name, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", name, v[0], v[1])
		}
	}

	local, err := Parse([]byte(strings.Replace(valid, "mcpDomain: mcp.10x.in", "mcpDomain: mcp.localhost\npublicPort: 8443", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := local.HostedURL("acme"); got != "https://acme.mcp.localhost:8443/mcp" {
		t.Errorf("local hosted URL = %q", got)
	}
	if got := local.Issuer; got != "https://ai.10x.in:8443" {
		t.Errorf("local issuer = %q", got)
	}

	noGateway, err := Parse([]byte(strings.Replace(valid, "enabled: true", "enabled: false", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := noGateway.GatewayURL(); got != "" {
		t.Errorf("disabled gateway URL = %q, want empty", got)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"missing mcpDomain", "mcpDomain: mcp.10x.in", "", "mcpDomain: required"},
		{"bad mcpDomain", "mcpDomain: mcp.10x.in", "mcpDomain: MCP_10x", `mcpDomain: "mcp_10x" is not a DNS name`},
		{"gateway under mcpDomain", "gatewayHost: ai.10x.in", "gatewayHost: ai.mcp.10x.in", `gatewayHost: "ai.mcp.10x.in" must not be a host under mcpDomain`},
		{"http issuer", "namespace: mcp-system", "namespace: mcp-system\nissuer: http://ai.10x.in", `issuer: "http://ai.10x.in" must be an https URL`},
		{"legacy issuer", "namespace: mcp-system", "namespace: mcp-system\nissuer: https://api.10x.in", `issuer: "https://api.10x.in" is listed in legacyAuthorizationServers`},
		{"issuer elsewhere", "namespace: mcp-system", "namespace: mcp-system\nissuer: https://auth.10x.in", `issuer: "https://auth.10x.in" must be the gateway host's origin https://ai.10x.in`},
		{"no gateway", "gatewayRefs: [{name: mcp-gateway, namespace: mcp-system, sectionName: https}]", "gatewayRefs: []", "gatewayRefs: at least one Gateway is required"},
		{"gateway without namespace", "gatewayRefs: [{name: mcp-gateway, namespace: mcp-system, sectionName: https}]", "gatewayRefs: [{name: mcp-gateway}]", "gatewayRefs[0].namespace: required"},
		{"bad port", "port: 8080", "port: 70000", "runtimeService.port: 70000 is not a TCP port"},
		{"bad TLS mode", "tls: {issuerRef: {name: letsencrypt}}", "tls: {mode: perhandle, issuerRef: {name: letsencrypt}}", `tls.mode: "perhandle" must be wildcard or perHandle`},
		{"no issuer", "tls: {issuerRef: {name: letsencrypt}}", "tls: {}", "tls.issuerRef.name: required"},
		{"bad issuer kind", "tls: {issuerRef: {name: letsencrypt}}", "tls: {issuerRef: {name: letsencrypt, kind: Vault}}", `tls.issuerRef.kind: "Vault" must be Issuer or ClusterIssuer`},
		{"legacy URL", "legacyAuthorizationServers: [api.10x.in]", "legacyAuthorizationServers: [https://api.10x.in]", `legacyAuthorizationServers[0]: "https://api.10x.in" must be a bare host name`},
		{"unknown field", "sharedGateway: {enabled: true}", "sharedGateway: {enable: true}", `unknown field "enable"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(valid, tc.from, tc.to, 1)
			if doc == valid {
				t.Fatalf("test case does not change the document")
			}
			_, err := Parse([]byte(doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadShippedSample(t *testing.T) {
	path := filepath.Join("..", "..", "config", "platform", "platform.yaml")
	if _, err := Load(path); err != nil {
		t.Fatalf("config/platform/platform.yaml: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file error = %v", err)
	}
}

const oidcSignIn = `
signIn:
  oidc:
    issuerURL: https://dex.10x.in/dex
    clientID: mcp-runtime
    clientSecretRef: {name: mcp-oidc, key: client-secret}
`

func TestParseOIDCSignIn(t *testing.T) {
	c, err := Parse([]byte(valid + oidcSignIn))
	if err != nil {
		t.Fatal(err)
	}
	o := c.SignIn.OIDC
	if got := strings.Join(o.Scopes, " "); got != "openid email profile" {
		t.Errorf("default scopes %q", got)
	}
	if o.DisplayName != "dex.10x.in" {
		t.Errorf("default display name %q, want the issuer's host", o.DisplayName)
	}
	if o.GroupsClaim != "" {
		t.Errorf("groups claim defaults to %q, want none", o.GroupsClaim)
	}
	if got := c.OIDCRedirectURL(); got != "https://ai.10x.in/ui/oidc/callback" {
		t.Errorf("redirect URL %q", got)
	}
	if err := c.RequireSignIn(); err != nil {
		t.Errorf("OIDC alone is a sign-in method: %v", err)
	}

	local, err := Parse([]byte(valid + strings.Replace(oidcSignIn, "https://dex.10x.in/dex", "http://127.0.0.1:5556/dex", 1)))
	if err != nil || local.SignIn.OIDC.IssuerURL != "http://127.0.0.1:5556/dex" {
		t.Errorf("a loopback http issuer is refused: %v", err)
	}

	none, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if err := none.RequireSignIn(); err == nil || !strings.Contains(err.Error(), "signIn.staticUsersSecret, signIn.oidc or both") {
		t.Errorf("no sign-in method: %v", err)
	}
	static, _ := Parse([]byte(valid + "signIn: {staticUsersSecret: mcp-users}\n"))
	if err := static.RequireSignIn(); err != nil {
		t.Errorf("static users alone: %v", err)
	}
}

func TestParseOIDCErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"no issuer", "issuerURL: https://dex.10x.in/dex", "", "signIn.oidc.issuerURL: required"},
		{"http issuer", "https://dex.10x.in/dex", "http://dex.10x.in/dex", `signIn.oidc.issuerURL: "http://dex.10x.in/dex" must be an https URL`},
		{"issuer with query", "https://dex.10x.in/dex", "https://dex.10x.in/dex?x=1", `signIn.oidc.issuerURL: "https://dex.10x.in/dex?x=1" must be an absolute URL`},
		{"relative issuer", "https://dex.10x.in/dex", "/dex", `signIn.oidc.issuerURL: "/dex" must be an absolute URL`},
		{"no client", "clientID: mcp-runtime", "", "signIn.oidc.clientID: required"},
		{"client with space", "clientID: mcp-runtime", "clientID: mcp runtime", `signIn.oidc.clientID: "mcp runtime" must be`},
		{"no secret", "clientSecretRef: {name: mcp-oidc, key: client-secret}", "", "signIn.oidc.clientSecretRef.name: required"},
		{"no secret key", "{name: mcp-oidc, key: client-secret}", "{name: mcp-oidc}", "signIn.oidc.clientSecretRef.key: required"},
		{"bad secret key", "key: client-secret", "key: client/secret", `signIn.oidc.clientSecretRef.key: "client/secret" is not a Secret key`},
		{"bad secret name", "name: mcp-oidc", "name: MCP_OIDC", `signIn.oidc.clientSecretRef.name: "MCP_OIDC" is not a DNS name`},
		{"no openid scope", "clientID: mcp-runtime", "clientID: mcp-runtime\n    scopes: [email, profile]", `signIn.oidc.scopes: ["email" "profile"] must include openid`},
		{"bad scope", "clientID: mcp-runtime", "clientID: mcp-runtime\n    scopes: [openid, \"a b\"]", `signIn.oidc.scopes[1]: "a b" is not an OAuth scope token`},
		{"bad groups claim", "clientID: mcp-runtime", "clientID: mcp-runtime\n    groupsClaim: \"my groups\"", `signIn.oidc.groupsClaim: "my groups" must be a claim name`},
		{"long display name", "clientID: mcp-runtime", "clientID: mcp-runtime\n    displayName: " + strings.Repeat("x", 65), "signIn.oidc.displayName: must be 1 to 64 characters"},
		{"unknown field", "clientID: mcp-runtime", "clientID: mcp-runtime\n    clientSecret: s3cr3t", `unknown field "clientSecret"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(oidcSignIn, tc.from, tc.to, 1)
			if doc == oidcSignIn {
				t.Fatalf("test case does not change the document")
			}
			_, err := Parse([]byte(valid + doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

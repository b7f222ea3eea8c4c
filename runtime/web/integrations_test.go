package web

import (
	"testing"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// The page's command names the environment the way mcpctl derives it.
func TestSetupCommand(t *testing.T) {
	const cb = " --redirect-uri https://chatgpt.com/connector/oauth/<callback_id>"
	cases := []struct {
		name                 string
		mcpDomain, gateway   string
		port                 int32
		issuer, handle, want string
	}{
		{"production", "mcp.10x.in", "ai.10x.in", 443, "https://ai.10x.in", "acme",
			"mcpctl setup-chatgpt-mcp-oauth --handle acme" + cb},
		{"staging", "mcp.staging.10x.in", "ai.staging.10x.in", 443, "https://ai.staging.10x.in", "acme",
			"mcpctl setup-chatgpt-mcp-oauth --handle acme --base-domain staging.10x.in" + cb},
		{"local stack", "mcp.localhost", "localhost", 8443, "https://localhost:8443", "acme",
			"mcpctl setup-chatgpt-mcp-oauth --handle acme --base-domain localhost:8443" + cb},
		{"shared app on staging", "mcp.staging.10x.in", "ai.staging.10x.in", 443, "https://ai.staging.10x.in", "",
			"mcpctl setup-chatgpt-mcp-oauth --gateway --base-domain staging.10x.in" + cb},
		{"another layout", "tools.example.com", "auth.example.com", 443, "https://auth.example.com", "acme",
			"mcpctl setup-chatgpt-mcp-oauth --handle acme --server-url https://acme.tools.example.com/mcp --expected-issuer https://auth.example.com" + cb},
		{"another gateway host", "mcp.example.com", "gw.example.com", 443, "https://gw.example.com", "",
			"mcpctl setup-chatgpt-mcp-oauth --gateway --server-url https://gw.example.com/mcp --expected-issuer https://gw.example.com" + cb},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &platform.Config{MCPDomain: tc.mcpDomain, GatewayHost: tc.gateway, PublicPort: tc.port, Issuer: tc.issuer}
			target, url := "--gateway", cfg.SharedGatewayURL()
			if tc.handle != "" {
				target, url = "--handle "+tc.handle, cfg.HostedURL(tc.handle)
			}
			if got := setupCommand(cfg, target, url); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

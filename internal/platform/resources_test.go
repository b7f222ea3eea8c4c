package platform

import (
	"strings"
	"testing"
)

func TestResourceAtAndOf(t *testing.T) {
	cfg, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	local, err := Parse([]byte(strings.Replace(valid, "mcpDomain: mcp.10x.in", "mcpDomain: mcp.10x.in\npublicPort: 8443", 1)))
	if err != nil {
		t.Fatal(err)
	}
	noGateway, err := Parse([]byte(strings.Replace(valid, "enabled: true", "enabled: false", 1)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg        *Config
		host, path string
		want       Resource
	}{
		{cfg, "acme.mcp.10x.in", "/mcp", Resource{ResourceHosted, "acme", "https://acme.mcp.10x.in/mcp"}},
		{cfg, "ACME.mcp.10x.in:443", "/mcp", Resource{ResourceHosted, "acme", "https://acme.mcp.10x.in/mcp"}},
		{cfg, "ai.10x.in", "/mcp", Resource{ResourceGateway, "", "https://ai.10x.in/mcp"}},
		{cfg, "ai.10x.in", "/mcp/acme/mcp", Resource{ResourceCompatibility, "acme", "https://ai.10x.in/mcp/acme/mcp"}},
		{local, "acme.mcp.10x.in:8443", "/mcp", Resource{ResourceHosted, "acme", "https://acme.mcp.10x.in:8443/mcp"}},
		{noGateway, "ai.10x.in", "/mcp/acme/mcp", Resource{ResourceCompatibility, "acme", "https://ai.10x.in/mcp/acme/mcp"}},
		{noGateway, "ai.10x.in", "/mcp", Resource{}},
		{cfg, "acme.mcp.10x.in", "/mcp/", Resource{}},
		{cfg, "a.b.mcp.10x.in", "/mcp", Resource{}},
		{cfg, "mcp.10x.in", "/mcp", Resource{}},
		{cfg, "evil.example", "/mcp", Resource{}},
		{cfg, "acme.mcp.10x.in:8443", "/mcp", Resource{}},
		{cfg, "ai.10x.in", "/mcp/acme/x/mcp", Resource{}},
		{cfg, "ai.10x.in", "/mcp//mcp", Resource{}},
	}
	for _, tc := range cases {
		got, ok := tc.cfg.ResourceAt(tc.host, tc.path)
		if got != tc.want || ok != (tc.want != Resource{}) {
			t.Errorf("ResourceAt(%q, %q) = %+v, %v; want %+v", tc.host, tc.path, got, ok, tc.want)
		}
	}

	for indicator, want := range map[string]bool{
		"https://acme.mcp.10x.in/mcp":     true,
		"https://ai.10x.in/mcp":           true,
		"https://ai.10x.in/mcp/acme/mcp":  true,
		"https://acme.mcp.10x.in/mcp/":    false,
		"https://ACME.mcp.10x.in/mcp":     false,
		"http://acme.mcp.10x.in/mcp":      false,
		"https://acme.mcp.10x.in/mcp?x=1": false,
		"https://acme.mcp.10x.in/mcp#x":   false,
		"https://u@acme.mcp.10x.in/mcp":   false,
		"https://acme.mcp.10x.in:443/mcp": false,
		"https://api.10x.in/mcp":          false,
		"acme":                            false,
	} {
		if _, ok := cfg.ResourceOf(indicator); ok != want {
			t.Errorf("ResourceOf(%q) = %v, want %v", indicator, ok, want)
		}
	}
	if _, ok := noGateway.ResourceOf("https://ai.10x.in/mcp"); ok {
		t.Error("the shared gateway is a resource while disabled")
	}
}

func TestMetadataURL(t *testing.T) {
	for res, want := range map[Resource]string{
		{ResourceHosted, "acme", "https://acme.mcp.10x.in/mcp"}:           "https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp",
		{ResourceGateway, "", "https://ai.10x.in/mcp"}:                    "https://ai.10x.in/.well-known/oauth-protected-resource/mcp",
		{ResourceCompatibility, "acme", "https://ai.10x.in/mcp/acme/mcp"}: "https://ai.10x.in/.well-known/oauth-protected-resource/mcp/acme/mcp",
		{ResourceHosted, "acme", "https://acme.mcp.localhost:8443/mcp"}:   "https://acme.mcp.localhost:8443/.well-known/oauth-protected-resource/mcp",
	} {
		if got := res.MetadataURL(); got != want {
			t.Errorf("%+v: %s; want %s", res, got, want)
		}
	}
}

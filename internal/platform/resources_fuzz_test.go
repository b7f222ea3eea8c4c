package platform

import (
	"net/url"
	"strings"
	"testing"
)

func fuzzConfigs(f *testing.F) []*Config {
	f.Helper()
	var out []*Config
	for _, y := range []string{
		valid,
		strings.Replace(valid, "mcpDomain: mcp.10x.in", "mcpDomain: mcp.10x.in\npublicPort: 8443", 1),
		strings.Replace(valid, "enabled: true", "enabled: false", 1),
	} {
		cfg, err := Parse([]byte(y))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, cfg)
	}
	return out
}

var routingSeeds = [][2]string{
	{"acme.mcp.10x.in", "/mcp"},
	{"ACME.mcp.10x.in:443", "/mcp"},
	{"acme.mcp.10x.in.", "/mcp"},
	{"acme.mcp.10x.in:8443", "/mcp"},
	{"ai.10x.in", "/mcp"},
	{"ai.10x.in", "/mcp/acme/mcp"},
	{"ai.10x.in:443", "/mcp/ACME/mcp"},
	{"ai.10x.in", "/mcp/a/b/mcp"},
	{"ai.10x.in", "/mcp/a?b/mcp"},
	{"ai.10x.in", "/mcp/a#b/mcp"},
	{"ai.10x.in", "/mcp//mcp"},
	{"a.b.mcp.10x.in", "/mcp"},
	{"a?b.mcp.10x.in", "/mcp"},
	{"a@b.mcp.10x.in", "/mcp"},
	{"[::1]:443", "/mcp"},
	{"evil.example", "/mcp"},
	{".mcp.10x.in", "/mcp"},
	{"api.10x.in", "/mcp"},
	{"acme.mcp.10x.in", "/MCP"},
	{"ai.10x.in", "/mcp/acme/mcp/"},
}

// FuzzResourceAt checks host/path routing: a resource found for a Host
// header and path is one of the three URL shapes, and its canonical URL maps
// back, through ResourceOf (the resource indicator of an authorization
// request) and through ResourceAt on that URL's own host and path, to the
// same resource. So a token bound to the resource of one request is bound to
// exactly the URL the request addressed.
func FuzzResourceAt(f *testing.F) {
	cfgs := fuzzConfigs(f)
	for _, s := range routingSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, path string) {
		for i, cfg := range cfgs {
			r, ok := cfg.ResourceAt(host, path)
			if !ok {
				continue
			}
			switch r.Kind {
			case ResourceHosted, ResourceCompatibility:
				if r.Handle == "" {
					t.Fatalf("cfg %d: %q %q: a %v resource without a handle", i, host, path, r.Kind)
				}
			case ResourceGateway:
				if r.Handle != "" || !cfg.SharedGateway.Enabled {
					t.Fatalf("cfg %d: %q %q: gateway resource %+v", i, host, path, r)
				}
			default:
				t.Fatalf("cfg %d: %q %q: kind %v", i, host, path, r.Kind)
			}
			back, ok := cfg.ResourceOf(r.URL)
			if !ok || back != r {
				t.Fatalf("cfg %d: %q %q gives %+v, but its URL maps back to %+v (%v)", i, host, path, r, back, ok)
			}
			u, err := url.Parse(r.URL)
			if err != nil {
				t.Fatalf("cfg %d: %q %q: URL %q does not parse: %v", i, host, path, r.URL, err)
			}
			again, ok := cfg.ResourceAt(u.Host, u.Path)
			if !ok || again != r {
				t.Fatalf("cfg %d: %q %q gives %+v; its own host and path give %+v (%v)", i, host, path, r, again, ok)
			}
			if m := r.MetadataURL(); !strings.HasPrefix(m, "https://"+u.Host+ProtectedResourcePath+"/") || !strings.HasSuffix(m, u.Path) {
				t.Fatalf("cfg %d: metadata URL %q of %q", i, m, r.URL)
			}
		}
	})
}

// FuzzResourceOf checks resource indicators: only the exact canonical URL of
// a resource is one; no normalisation (case, port, trailing dot, escapes,
// query, fragment, user information) makes another string name it.
func FuzzResourceOf(f *testing.F) {
	cfgs := fuzzConfigs(f)
	for _, s := range []string{
		"https://acme.mcp.10x.in/mcp", "https://ACME.mcp.10x.in/mcp", "https://acme.mcp.10x.in:443/mcp",
		"https://acme.mcp.10x.in./mcp", "https://acme.mcp.10x.in/mcp/", "https://acme.mcp.10x.in/mcp?x=1",
		"https://acme.mcp.10x.in/mcp#f", "https://u@acme.mcp.10x.in/mcp", "http://acme.mcp.10x.in/mcp",
		"https://ai.10x.in/mcp", "https://ai.10x.in/mcp/acme/mcp", "https://ai.10x.in/mcp/%61cme/mcp",
		"https://ai.10x.in/%6dcp", "https://acme.mcp.10x.in:8443/mcp", "https://api.10x.in/mcp", "https:acme.mcp.10x.in/mcp",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, indicator string) {
		for i, cfg := range cfgs {
			r, ok := cfg.ResourceOf(indicator)
			if !ok {
				continue
			}
			if r.URL != indicator {
				t.Fatalf("cfg %d: %q names the resource %q", i, indicator, r.URL)
			}
			var want string
			switch r.Kind {
			case ResourceHosted:
				want = cfg.HostedURL(r.Handle)
			case ResourceGateway:
				want = cfg.SharedGatewayURL()
			case ResourceCompatibility:
				want = cfg.CompatibilityURL(r.Handle)
			}
			if want != indicator {
				t.Fatalf("cfg %d: %q accepted as %+v, whose canonical URL is %q", i, indicator, r, want)
			}
		}
	})
}

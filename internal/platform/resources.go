package platform

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ResourceKind says which of the guide's three MCP URL shapes a resource is.
type ResourceKind int

// The three MCP URL shapes.
const (
	// ResourceHosted is https://{handle}.{mcpDomain}/mcp.
	ResourceHosted ResourceKind = iota + 1
	// ResourceGateway is the shared https://{gatewayHost}/mcp.
	ResourceGateway
	// ResourceCompatibility is https://{gatewayHost}/mcp/{handle}/mcp.
	ResourceCompatibility
)

// Resource is one MCP endpoint: its canonical URL and the handle it serves
// (empty for the shared gateway, where the token decides).
type Resource struct {
	Kind   ResourceKind
	Handle string
	URL    string
}

// ResourceAt maps a request's Host header and path to the MCP resource it
// addresses. It does not check that the handle exists.
func (c *Config) ResourceAt(hostport, path string) (Resource, bool) {
	host, ok := c.requestHost(hostport)
	if !ok {
		return Resource{}, false
	}
	if c.IsGatewayHost(hostport) {
		if path == MCPPath {
			if !c.SharedGateway.Enabled {
				return Resource{}, false
			}
			return Resource{Kind: ResourceGateway, URL: c.SharedGatewayURL()}, true
		}
		if handle, ok := compatHandle(path); ok {
			return Resource{Kind: ResourceCompatibility, Handle: handle, URL: c.CompatibilityURL(handle)}, true
		}
		return Resource{}, false
	}
	if handle, ok := c.HandleOfHost(host); ok && path == MCPPath {
		return Resource{Kind: ResourceHosted, Handle: handle, URL: c.HostedURL(handle)}, true
	}
	return Resource{}, false
}

// ResourceOf maps an RFC 8707 resource indicator to the MCP resource it
// names. Only the exact canonical URLs are resources.
func (c *Config) ResourceOf(indicator string) (Resource, bool) {
	u, err := url.Parse(indicator)
	if err != nil || u.Scheme != "https" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return Resource{}, false
	}
	r, ok := c.ResourceAt(u.Host, u.Path)
	if !ok || r.URL != indicator {
		return Resource{}, false
	}
	return r, true
}

// IsGatewayHost reports whether a Host header names the gateway host on the
// public port.
func (c *Config) IsGatewayHost(hostport string) bool {
	host, ok := c.requestHost(hostport)
	return ok && host == c.GatewayHost
}

// HandleOfHost returns the handle of a hosted host {handle}.{mcpDomain}.
func (c *Config) HandleOfHost(host string) (string, bool) {
	label, ok := strings.CutSuffix(host, "."+c.MCPDomain)
	if !ok || !handleName(label) {
		return "", false
	}
	return label, true
}

// handleName reports whether s can be a Handle's name, a DNS label (RFC 1123:
// lower-case letters, digits and '-', at most 63). Anything else names no
// handle, so every resource's canonical URL parses back to the same resource.
func handleName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// requestHost returns the lower-cased host of a Host header when its port,
// if any, is the public port.
func (c *Config) requestHost(hostport string) (string, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	if port != "" && port != strconv.Itoa(int(c.PublicPort)) {
		return "", false
	}
	return strings.ToLower(strings.TrimSuffix(host, ".")), host != ""
}

// compatHandle returns the handle of a path /mcp/{handle}/mcp.
func compatHandle(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, MCPPath+"/")
	if !ok {
		return "", false
	}
	handle, ok := strings.CutSuffix(rest, MCPPath)
	if !ok || !handleName(handle) {
		return "", false
	}
	return handle, true
}

// MetadataURL is the RFC 9728 protected-resource metadata URL of the
// resource: the well-known prefix inserted between its origin and its path.
func (r Resource) MetadataURL() string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + ProtectedResourcePath + u.Path
}

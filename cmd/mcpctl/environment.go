package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// defaultBaseDomain is production: handles on mcp.10x.in, the gateway and
// the issuer on ai.10x.in (config/platform/platform.yaml).
const defaultBaseDomain = "10x.in"

// environment is the product's URL layout under one base domain B
// (optionally with a port, which every host then carries):
//
//	hosted MCP URL      https://{handle}.mcp.B/mcp
//	shared app URL      https://ai.B/mcp
//	compatibility URL   https://ai.B/mcp/{handle}/mcp
//	OAuth issuer        https://ai.B
//
// The one exception is B = localhost (the local stack of `make run`),
// whose gateway host is localhost itself: https://localhost:8443.
type environment struct {
	base    string // as given, lower-cased, without :443
	mcpHost string // mcp.B (host[:port])
	gateway string // ai.B or localhost (host[:port])
}

func newEnvironment(base string) (environment, error) {
	host, port := strings.ToLower(strings.TrimSuffix(base, ".")), ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return environment{}, fmt.Errorf("--base-domain %q: %q is not a TCP port", base, p)
		}
		if port == "443" {
			port = ""
		}
	}
	if msgs := validation.IsDNS1123Subdomain(host); len(msgs) > 0 {
		return environment{}, fmt.Errorf("--base-domain %q is not a DNS name (optionally with :port): %s", base, strings.Join(msgs, "; "))
	}
	withPort := func(h string) string {
		if port == "" {
			return h
		}
		return net.JoinHostPort(h, port)
	}
	e := environment{base: withPort(host), mcpHost: withPort("mcp." + host), gateway: withPort("ai." + host)}
	if host == "localhost" {
		e.gateway = withPort(host)
	}
	return e, nil
}

// environmentOf guesses the environment of an MCP URL from its host:
// {handle}.mcp.B, ai.B or localhost.
func environmentOf(u *url.URL) (environment, bool) {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	base := ""
	switch {
	case host == "localhost" || strings.HasSuffix(host, ".mcp.localhost"):
		base = "localhost"
	case strings.Contains(host, ".mcp."):
		_, base, _ = strings.Cut(host, ".mcp.")
	case strings.HasPrefix(host, "ai."):
		base = strings.TrimPrefix(host, "ai.")
	default:
		return environment{}, false
	}
	if port != "" {
		base = net.JoinHostPort(base, port)
	}
	e, err := newEnvironment(base)
	return e, err == nil
}

func (e environment) hostedURL(handle string) string {
	return "https://" + handle + "." + e.mcpHost + platform.MCPPath
}
func (e environment) gatewayURL() string { return "https://" + e.gateway + platform.MCPPath }
func (e environment) compatibilityURL(handle string) string {
	return "https://" + e.gateway + platform.CompatibilityPath(handle)
}
func (e environment) issuer() string { return "https://" + e.gateway }

// handleOfHost returns the handle of a hosted host {handle}.mcp.B.
func (e environment) handleOfHost(hostport string) (string, bool) {
	label, ok := strings.CutSuffix(strings.TrimSuffix(strings.ToLower(hostport), ":443"), "."+e.mcpHost)
	if !ok || label == "" || strings.Contains(label, ".") {
		return "", false
	}
	return label, true
}

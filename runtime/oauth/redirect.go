package oauth

import (
	"net"
	"net/url"
	"slices"
	"strings"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// RedirectURIRegistered reports whether redirectURI is one of the client's
// registered redirect URIs: byte for byte, except that a plain http loopback
// redirect URI may name any port (RFC 8252 section 7.3): desktop clients
// (VS Code, Claude Code, mcp-remote) listen on a port the operating system
// picks when the flow starts, not the one they registered.
func RedirectURIRegistered(registered []mcpv1alpha1.RedirectURI, redirectURI string) bool {
	if slices.Contains(registered, mcpv1alpha1.RedirectURI(redirectURI)) {
		return true
	}
	want, ok := loopbackWithoutPort(redirectURI)
	if !ok {
		return false
	}
	for _, r := range registered {
		if got, ok := loopbackWithoutPort(string(r)); ok && got == want {
			return true
		}
	}
	return false
}

// loopbackWithoutPort returns an http loopback URI with its port removed
// and everything else as written, or false for any other URI.
func loopbackWithoutPort(raw string) (string, bool) {
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok || mcpv1alpha1.RedirectURI(raw).Validate() != nil {
		return "", false
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	host := authority
	if h, _, err := net.SplitHostPort(authority); err == nil {
		host = h
	} else if strings.HasPrefix(authority, "[") {
		host = strings.Trim(authority, "[]")
	}
	switch host {
	case "127.0.0.1", "::1", "localhost":
		return "http://" + host + path, true
	}
	return "", false
}

// Location returns the redirect URI carrying the error, the state and the
// issuer (RFC 9207).
func (e *RedirectError) Location(issuer string) string {
	q := url.Values{"error": {e.Err.Code}, "iss": {issuer}}
	if e.Err.Description != "" {
		q.Set("error_description", e.Err.Description)
	}
	if e.State != "" {
		q.Set("state", e.State)
	}
	return appendQuery(e.RedirectURI, q)
}

// CodeLocation returns the redirect URI carrying a new authorization code.
func CodeLocation(req *AuthorizeRequest, code, issuer string) string {
	q := url.Values{"code": {code}, "iss": {issuer}}
	if req.State != "" {
		q.Set("state", req.State)
	}
	return appendQuery(req.RedirectURI, q)
}

// appendQuery adds parameters to a registered redirect URI, which may have a
// query of its own.
func appendQuery(redirectURI string, q url.Values) string {
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
	}
	return redirectURI + sep + q.Encode()
}

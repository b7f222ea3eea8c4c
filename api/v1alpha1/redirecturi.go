package v1alpha1

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// loopbackHosts are the hosts a redirect URI may name over http (RFC 8252
// §7.3).
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// NonPrivateUseSchemes may not serve as a native app's private-use scheme
// (RFC 8252 §7.1): a browser fetches them, runs script or reads local data
// with them, shows its own pages, or hands them to a system handler that is
// no app's callback. http is allowed only on a loopback host, by its own
// rule. The OAuthClient CRD's CEL rule lists the same schemes (the
// apiserver test applies each).
var NonPrivateUseSchemes = []string{
	"http", "ws", "wss", "ftp", "file",
	"about", "blob", "data", "filesystem", "javascript", "vbscript",
	"view-source", "chrome", "chrome-extension", "edge", "moz-extension", "resource", "intent",
	"mailto", "tel", "sms",
}

// privateUse is the form a private-use redirect URI must start with: an RFC
// 3986 scheme in lowercase (compared byte for byte, so one spelling only),
// then a path or an authority: com.example.app:/cb, cursor://app/cb.
var privateUse = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:/`)

// Validate applies the rule of the RedirectURI type, which the apiserver
// enforces with CEL, so that dynamic registration and client ID metadata
// documents refuse what it would refuse, with a reason the client can act
// on. That private-use schemes are for public clients only is the
// OAuthClientSpec's rule, since it depends on the client.
func (u RedirectURI) Validate() error {
	raw := string(u)
	if len(raw) > 2048 {
		return errors.New("longer than 2048 bytes")
	}
	p, err := url.Parse(raw)
	switch {
	case err != nil || !p.IsAbs() || (p.Host == "" && !u.IsPrivateUse()):
		return errors.New("not an absolute URL")
	case p.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("a redirect URI must not contain a fragment")
	case p.User != nil || strings.Contains(authority(raw), "@"):
		// https://chatgpt.com@evil.example/cb names evil.example: a
		// person reading it sees chatgpt.com (RFC 3986 §7.6).
		return errors.New("a redirect URI must not contain user information (user@host)")
	case p.Scheme == "https":
		return nil
	case p.Scheme == "http" && slices.Contains(loopbackHosts, p.Hostname()):
		return nil
	case p.Scheme == "http":
		return errors.New("https is required (http only for localhost, 127.0.0.1 and [::1])")
	case slices.Contains(NonPrivateUseSchemes, p.Scheme):
		return errors.New("the scheme " + p.Scheme + " is not a private-use scheme: use https, loopback http or an app's own scheme")
	case !privateUse.MatchString(raw):
		return errors.New("a private-use scheme must be lowercase and followed by :/ (cursor://app/callback, com.example.app:/callback)")
	}
	return nil
}

// IsPrivateUse reports whether u uses a scheme other than https and http,
// which Validate allows only as a native app's private-use scheme.
func (u RedirectURI) IsPrivateUse() bool {
	scheme, _, ok := strings.Cut(string(u), ":")
	return ok && !strings.EqualFold(scheme, "https") && !strings.EqualFold(scheme, "http")
}

// authority returns the part of a URL between "//" and the path, query or
// fragment.
func authority(raw string) string {
	_, rest, ok := strings.Cut(raw, "//")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// PublicRedirects applies the OAuthClientSpec's CEL rule that only a public
// client (tokenEndpointAuthMethod none) may have private-use redirect URIs:
// any app on the device may claim the scheme, so only PKCE protects the
// code, and a client that holds a secret runs on a server, which such a URI
// never reaches.
func (s *OAuthClientSpec) PublicRedirects() error {
	if s.TokenEndpointAuthMethod == "" || s.TokenEndpointAuthMethod == TokenEndpointAuthNone {
		return nil
	}
	for _, u := range s.RedirectURIs {
		if u.IsPrivateUse() {
			return errors.New(string(u) + ": a private-use redirect URI (a native app's) is for public clients only: token_endpoint_auth_method must be none")
		}
	}
	return nil
}

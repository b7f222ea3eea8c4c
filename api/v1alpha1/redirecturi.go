package v1alpha1

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// loopbackHosts are the hosts a redirect URI may name over http (RFC 8252
// §7.3).
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// Validate applies the rule of the RedirectURI type, which the apiserver
// enforces with CEL, so that dynamic registration and client ID metadata
// documents refuse what it would refuse, with a reason the client can act
// on.
func (u RedirectURI) Validate() error {
	raw := string(u)
	if len(raw) > 2048 {
		return errors.New("longer than 2048 bytes")
	}
	p, err := url.Parse(raw)
	switch {
	case err != nil || !p.IsAbs() || p.Host == "":
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
	default:
		return errors.New("https is required (http only for localhost, 127.0.0.1 and [::1])")
	}
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

package oauth

import (
	"net/url"
	"strings"
)

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

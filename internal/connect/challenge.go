package connect

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Challenge is one challenge of a WWW-Authenticate header (RFC 9110 section
// 11.6.1): an auth scheme with either auth-params or a token68.
type Challenge struct {
	// Scheme as sent (compare with strings.EqualFold; "Bearer" for RFC 6750).
	Scheme string
	// Params maps lower-cased parameter names to their unquoted values.
	Params map[string]string
	// Token68 is the token68 form's value; empty when Params are used.
	Token68 string
}

// Param returns a parameter's value; names are case-insensitive.
func (c Challenge) Param(name string) (string, bool) {
	v, ok := c.Params[strings.ToLower(name)]
	return v, ok
}

// String formats the challenge canonically: the scheme, then the params
// sorted by name, every value a quoted-string.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteString(" ")
		b.WriteString(c.Token68)
		return b.String()
	}
	names := make([]string, 0, len(c.Params))
	for k := range c.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		if i == 0 {
			b.WriteString(" ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		for _, ch := range []byte(c.Params[k]) {
			if ch == '"' || ch == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(ch)
		}
		b.WriteString(`"`)
	}
	return b.String()
}

// BearerChallenge is the RFC 6750 Bearer challenge with the RFC 9728
// resource_metadata parameter.
type BearerChallenge struct {
	ResourceMetadata string   `json:"resource_metadata,omitempty"`
	Realm            string   `json:"realm,omitempty"`
	Scope            []string `json:"scope,omitempty"`
	Error            string   `json:"error,omitempty"`
	ErrorDescription string   `json:"error_description,omitempty"`
	ErrorURI         string   `json:"error_uri,omitempty"`
}

// Bearer returns the first Bearer challenge of a list, if any.
func Bearer(challenges []Challenge) (*BearerChallenge, bool) {
	for _, c := range challenges {
		if !strings.EqualFold(c.Scheme, "Bearer") {
			continue
		}
		b := &BearerChallenge{}
		b.ResourceMetadata, _ = c.Param("resource_metadata")
		b.Realm, _ = c.Param("realm")
		if s, ok := c.Param("scope"); ok {
			b.Scope = strings.Fields(s)
		}
		b.Error, _ = c.Param("error")
		b.ErrorDescription, _ = c.Param("error_description")
		b.ErrorURI, _ = c.Param("error_uri")
		return b, true
	}
	return nil, false
}

// ErrMalformedChallenge wraps every parse error of ParseWWWAuthenticate.
var ErrMalformedChallenge = errors.New("malformed WWW-Authenticate header")

// ParseWWWAuthenticate parses the values of one or more WWW-Authenticate
// header fields (RFC 9110 section 11.6.1):
//
//	WWW-Authenticate = #challenge
//	challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param  = token BWS "=" BWS ( token / quoted-string )
//	token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// Empty list elements are tolerated, as RFC 9110 section 5.6.1 asks of
// recipients. A parameter repeated within one challenge is an error (RFC
// 9110 and RFC 6750 forbid it, and taking either value would be a guess).
func ParseWWWAuthenticate(values []string) ([]Challenge, error) {
	var out []Challenge
	for _, v := range values {
		cs, err := parseHeader(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedChallenge, err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

type parser struct {
	s string
	i int
}

func parseHeader(s string) ([]Challenge, error) {
	p := &parser{s: s}
	var out []Challenge
	for {
		p.skipListSeparators()
		if p.eof() {
			return out, nil
		}
		c, err := p.challenge()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) skipOWS() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// skipListSeparators skips OWS and commas between list elements.
func (p *parser) skipListSeparators() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *parser) token() string {
	start := p.i
	for !p.eof() && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// challenge parses one challenge and leaves the position at the end of
// the input or at the comma that ends it.
func (p *parser) challenge() (Challenge, error) {
	start := p.i
	scheme := p.token()
	if scheme == "" {
		return Challenge{}, fmt.Errorf("expected an auth scheme at offset %d", start)
	}
	c := Challenge{Scheme: scheme}
	if p.eof() || p.s[p.i] == ',' {
		return c, nil
	}
	if p.s[p.i] != ' ' {
		return Challenge{}, fmt.Errorf("unexpected %q after auth scheme %q", p.s[p.i], scheme)
	}
	p.skipOWS()
	if p.eof() || p.s[p.i] == ',' {
		return c, nil
	}
	// token68, or the first auth-param?
	if t68, ok := p.peekToken68(); ok {
		c.Token68 = t68
		p.i += len(t68)
		p.skipOWS()
		if !p.eof() && p.s[p.i] != ',' {
			return Challenge{}, fmt.Errorf("unexpected %q after token68 of %q", p.s[p.i], scheme)
		}
		return c, nil
	}
	c.Params = map[string]string{}
	for {
		name, value, err := p.authParam()
		if err != nil {
			return Challenge{}, fmt.Errorf("challenge %q: %w", scheme, err)
		}
		if _, dup := c.Params[name]; dup {
			return Challenge{}, fmt.Errorf("challenge %q: parameter %q appears twice", scheme, name)
		}
		c.Params[name] = value
		p.skipOWS()
		if p.eof() {
			return c, nil
		}
		if p.s[p.i] != ',' {
			return Challenge{}, fmt.Errorf("challenge %q: unexpected %q after parameter %q", scheme, p.s[p.i], name)
		}
		// After commas: another auth-param (token BWS "="), or the next
		// challenge (anything else), or the end.
		save := p.i
		p.skipListSeparators()
		if p.eof() || !p.atAuthParam() {
			p.i = save
			return c, nil
		}
	}
}

// peekToken68 reports a token68 at the position: its characters, then
// optional "=" padding, then the end, or OWS and a comma. "name=value" and
// "name = value" are not: padding must end a token68.
func (p *parser) peekToken68() (string, bool) {
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == p.i {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false
	}
	return p.s[p.i:j], true
}

// atAuthParam reports whether a token followed by BWS and "=" starts here.
func (p *parser) atAuthParam() bool {
	j := p.i
	for j < len(p.s) && isTchar(p.s[j]) {
		j++
	}
	if j == p.i {
		return false
	}
	for j < len(p.s) && (p.s[j] == ' ' || p.s[j] == '\t') {
		j++
	}
	return j < len(p.s) && p.s[j] == '='
}

func (p *parser) authParam() (string, string, error) {
	start := p.i
	name := p.token()
	if name == "" {
		return "", "", fmt.Errorf("expected a parameter name at offset %d", start)
	}
	p.skipOWS()
	if p.eof() || p.s[p.i] != '=' {
		return "", "", fmt.Errorf("parameter %q has no value", name)
	}
	p.i++
	p.skipOWS()
	if p.eof() {
		return "", "", fmt.Errorf("parameter %q has no value", name)
	}
	if p.s[p.i] == '"' {
		v, err := p.quotedString()
		if err != nil {
			return "", "", fmt.Errorf("parameter %q: %w", name, err)
		}
		return strings.ToLower(name), v, nil
	}
	v := p.token()
	if v == "" {
		return "", "", fmt.Errorf("parameter %q: value is neither a token nor a quoted-string", name)
	}
	return strings.ToLower(name), v, nil
}

// quotedString parses a quoted-string; the position is at its opening quote.
func (p *parser) quotedString() (string, error) {
	start := p.i
	p.i++
	var b strings.Builder
	for !p.eof() {
		ch := p.s[p.i]
		switch {
		case ch == '"':
			p.i++
			return b.String(), nil
		case ch == '\\':
			if p.i+1 >= len(p.s) {
				return "", errors.New("quoted-string ends with a lone backslash")
			}
			next := p.s[p.i+1]
			if !isQuotedPairChar(next) {
				return "", fmt.Errorf("invalid escaped character %q in quoted-string", next)
			}
			b.WriteByte(next)
			p.i += 2
		case isQdtext(ch):
			b.WriteByte(ch)
			p.i++
		default:
			return "", fmt.Errorf("invalid character %q in quoted-string", ch)
		}
	}
	return "", fmt.Errorf("unterminated quoted-string at offset %d", start)
}

// isTchar: RFC 9110 tchar.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

// isQdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80
}

// isQuotedPairChar: HTAB / SP / VCHAR / obs-text.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80
}

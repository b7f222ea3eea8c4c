// Package upstream mints the tokens the runtime sends to upstream MCP servers
// (Toolsets): short-lived JWT access tokens (RFC 9068 shape) signed ES256
// with keys from a Secret every replica shares, published as a JWK Set at
// {issuer}/.well-known/jwks.json. The client's own token never leaves the
// runtime.
package upstream

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
)

const (
	// TokenType is the JOSE typ header of the tokens (RFC 9068).
	TokenType = "at+jwt"
	// DefaultLifetime is the lifetime of a token when Minter.Lifetime is 0.
	DefaultLifetime = 60 * time.Second
)

// Claims are what a token says about the call: on which handle, for which
// user (Subject) and client, under which grant (the Connection object's
// name), with which scopes.
type Claims struct {
	Handle, Subject, ClientID, Grant string
	Scopes                           []string
}

// TokenClaims is the JSON payload of a token, for upstreams written in Go.
type TokenClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	Handle   string `json:"handle"`
	Grant    string `json:"grant,omitempty"`
}

// ScopeList returns the token's scopes.
func (c *TokenClaims) ScopeList() []string { return strings.Fields(c.Scope) }

// HasScope reports whether the token carries scope.
func (c *TokenClaims) HasScope(scope string) bool {
	for _, s := range c.ScopeList() {
		if s == scope {
			return true
		}
	}
	return false
}

// Minter signs upstream tokens with the current key of the keys Secret.
type Minter struct {
	// Issuer is the platform issuer, the iss of every token.
	Issuer string
	// Lifetime of tokens; DefaultLifetime when 0.
	Lifetime time.Duration

	keys atomic.Pointer[keySet]
}

// NewMinter returns a Minter for issuer with the keys of secret.
func NewMinter(issuer string, secret *corev1.Secret) (*Minter, error) {
	m := &Minter{Issuer: issuer}
	if err := m.Update(secret); err != nil {
		return nil, err
	}
	return m, nil
}

// Update swaps in the keys of secret; on error the keys in force stay.
func (m *Minter) Update(secret *corev1.Secret) error {
	ks, err := parseKeys(secret)
	if err != nil {
		return err
	}
	m.keys.Store(ks)
	return nil
}

// CurrentKeyID returns the kid that signs.
func (m *Minter) CurrentKeyID() string { return m.keys.Load().current }

// Mint returns a token for audience (the Toolset's spec.url) carrying c,
// issued at now.
func (m *Minter) Mint(audience string, c Claims, now time.Time) (string, error) {
	switch {
	case audience == "":
		return "", errors.New("an upstream token needs an audience")
	case c.Handle == "":
		return "", errors.New("an upstream token needs a handle")
	case c.Subject == "":
		return "", errors.New("an upstream token needs a subject")
	case c.ClientID == "":
		return "", errors.New("an upstream token needs a client id")
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			return "", fmt.Errorf("invalid scope %q", s)
		}
	}
	ks := m.keys.Load()
	if ks == nil {
		return "", errors.New("the upstream token minter has no keys")
	}
	lifetime := m.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now = now.Truncate(time.Second)
	claims := TokenClaims{
		Claims: jwt.Claims{
			Issuer:    m.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.Audience{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(now.Add(lifetime)),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
		ClientID: c.ClientID,
		Scope:    strings.Join(c.Scopes, " "),
		Handle:   c.Handle,
		Grant:    c.Grant,
	}
	token, err := jwt.Signed(ks.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("failed to sign an upstream token: %w", err)
	}
	return token, nil
}

// JWKS returns the public keys, every key of the Secret, as a JWK Set.
func (m *Minter) JWKS() []byte {
	ks := m.keys.Load()
	if ks == nil {
		return []byte(`{"keys":[]}`)
	}
	return ks.jwks
}

// ServeJWKS serves the JWK Set. Caches may keep it five minutes; an upstream
// that meets an unknown kid refetches it.
func (m *Minter) ServeJWKS(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(m.JWKS())
}

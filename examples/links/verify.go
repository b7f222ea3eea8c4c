package links

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are the claims of a runtime-minted upstream token that an upstream
// uses (see docs/runtime.md, "Upstream tokens").
type Claims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Handle   string `json:"handle"`
	Grant    string `json:"grant"`
}

// HasScope reports whether the token carries scope.
func (c *Claims) HasScope(scope string) bool {
	for _, s := range strings.Fields(c.Scope) {
		if s == scope {
			return true
		}
	}
	return false
}

// KeySet is the runtime's JWK Set, fetched from URL and cached: it is
// fetched again after MaxAge, and when a token names a kid the cached set
// lacks (a rotation), at most once every MinRefetch.
type KeySet struct {
	URL        string
	Client     *http.Client
	MaxAge     time.Duration // default 5 minutes
	MinRefetch time.Duration // default 5 seconds
	Now        func() time.Time

	mu                 sync.Mutex
	keys               jose.JSONWebKeySet
	fetched, attempted time.Time
}

// Key returns the public key named kid.
func (k *KeySet) Key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	maxAge, minRefetch := k.MaxAge, k.MinRefetch
	if maxAge == 0 {
		maxAge = 5 * time.Minute
	}
	if minRefetch == 0 {
		minRefetch = 5 * time.Second
	}
	fresh := !k.fetched.IsZero() && now.Sub(k.fetched) < maxAge
	cached := k.keys.Key(kid)
	if len(cached) > 0 && fresh {
		return &cached[0], nil
	}
	if !k.attempted.IsZero() && now.Sub(k.attempted) < minRefetch {
		if len(cached) > 0 {
			return &cached[0], nil
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	k.attempted = now
	if err := k.fetch(ctx); err != nil {
		if len(cached) > 0 {
			return &cached[0], nil // the runtime is unreachable: keep what we knew
		}
		return nil, err
	}
	k.fetched = now
	if found := k.keys.Key(kid); len(found) > 0 {
		return &found[0], nil
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

func (k *KeySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL, nil)
	if err != nil {
		return err
	}
	c := k.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("failed to fetch the JWK Set: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("failed to fetch the JWK Set %s: %s", k.URL, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("invalid JWK Set at %s: %w", k.URL, err)
	}
	k.keys = set
	return nil
}

func (k *KeySet) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Verifier checks upstream tokens: ES256 signature by a key of the runtime's
// JWK Set, typ at+jwt, iss, aud (this upstream's own URL), exp, nbf, and a
// handle.
type Verifier struct {
	Issuer   string
	Audience string
	Keys     *KeySet
	// Leeway tolerates clock skew; default 10 seconds.
	Leeway time.Duration
	Now    func() time.Time
}

// Verify returns the claims of a valid token.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, errors.New("the token is not an ES256 JWT")
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, errors.New("the token is not an access token (typ at+jwt)")
	}
	key, err := v.Keys.Key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := tok.Claims(key.Key, &c); err != nil {
		return nil, errors.New("the token's signature is invalid")
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = 10 * time.Second
	}
	switch {
	case c.Expiry == nil:
		return nil, errors.New("the token has no expiry")
	case c.Handle == "":
		return nil, errors.New("the token names no handle")
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: v.Issuer, AnyAudience: jwt.Audience{v.Audience}, Time: now}, leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, fmt.Errorf("the token's issuer %q is not %q", c.Issuer, v.Issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, fmt.Errorf("the token's audience %q is not %q", []string(c.Audience), v.Audience)
	case errors.Is(err, jwt.ErrExpired):
		return nil, errors.New("the token has expired")
	case err != nil:
		return nil, fmt.Errorf("the token is not valid: %w", err)
	}
	return &c, nil
}

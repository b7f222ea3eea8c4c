package toolsets

import (
	"sync"
	"time"

	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
)

// maxCachedTokens bounds the upstream tokens kept for reuse; past it,
// expired entries are dropped, then everything.
const maxCachedTokens = 10000

// reuseKey is what an upstream token says: the same key, the same token.
type reuseKey struct {
	audience, handle, subject, clientID, grant string
	scopes                                     tokens.ScopeSet
}

type cachedToken struct {
	token      string
	reuseUntil time.Time
}

// tokenCache keeps minted upstream tokens for reuse, so a burst of calls
// through one grant to one toolset signs once: signing is most of a call's
// own CPU.
type tokenCache struct {
	mu      sync.Mutex
	entries map[reuseKey]cachedToken
}

// upstreamToken returns a token for a call by p to the upstream at audience,
// minted afresh unless one minted within TokenReuse says the same.
func (m *Manager) upstreamToken(audience string, p *principal.Principal) (string, error) {
	key := reuseKey{audience: audience, handle: p.Handle.Name, subject: p.Token.Subject, clientID: p.Token.ClientID,
		grant: p.Token.Grant, scopes: p.Token.Scopes}
	now := m.now()
	if m.TokenReuse > 0 {
		m.tokens.mu.Lock()
		c, ok := m.tokens.entries[key]
		m.tokens.mu.Unlock()
		if ok && now.Before(c.reuseUntil) {
			return c.token, nil
		}
	}
	token, err := m.Minter.Mint(audience, upstream.Claims{
		Handle: p.Handle.Name, Subject: p.Token.Subject, ClientID: p.Token.ClientID, Grant: p.Token.Grant,
		Scopes: scopeStrings(p),
	}, now)
	if err != nil || m.TokenReuse <= 0 {
		return token, err
	}
	m.tokens.mu.Lock()
	defer m.tokens.mu.Unlock()
	if m.tokens.entries == nil || len(m.tokens.entries) >= maxCachedTokens {
		m.tokens.entries = pruned(m.tokens.entries, now)
	}
	m.tokens.entries[key] = cachedToken{token: token, reuseUntil: now.Add(m.TokenReuse)}
	return token, nil
}

// pruned drops expired entries, or all of them when that is not enough.
func pruned(entries map[reuseKey]cachedToken, now time.Time) map[reuseKey]cachedToken {
	for k, c := range entries {
		if !now.Before(c.reuseUntil) {
			delete(entries, k)
		}
	}
	if entries == nil || len(entries) >= maxCachedTokens {
		return make(map[reuseKey]cachedToken)
	}
	return entries
}

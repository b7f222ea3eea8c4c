// Package tokens mints and verifies the runtime's bearer credentials: the
// self-verifying mcpv1_ access tokens (an HMAC over a compact binary payload,
// with a key id so several keys are valid at once) and the opaque refresh
// tokens and authorization codes whose hashes live on the grant.
package tokens

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// AccessPrefix starts every access token; a bearer without it is not one of
// ours (the guide's invalid_token_format).
const AccessPrefix = "mcpv1_"

// Errors of VerifyAccess. ErrFormat means the bearer is not an mcpv1_ token;
// the others mean it is one that must not be accepted.
var (
	ErrFormat     = errors.New("the bearer is not an mcpv1_ token")
	ErrMalformed  = errors.New("the token is malformed")
	ErrUnknownKey = errors.New("the token's signing key is unknown or retired")
	ErrSignature  = errors.New("the token's signature does not verify")
	ErrExpired    = errors.New("the token has expired")
)

// Access is what an access token asserts.
type Access struct {
	// Handle is the one handle the token is valid on.
	Handle string
	// Subject is the signed-in user, "issuer#subject".
	Subject string
	// ClientID is the OAuth client the token was issued to.
	ClientID string
	// Grant is the name of the Connection the token came from; a token whose
	// grant is gone is revoked.
	Grant string
	// Scopes are the approved scopes.
	Scopes ScopeSet
	// Expiry is when the token stops being valid (whole seconds).
	Expiry time.Time
}

const (
	payloadVersion = 1
	macSize        = 32
	maxField       = 1024
	maxTokenLen    = 8192
)

// b64 decodes strictly: with non-zero trailing bits accepted, one token
// would have several spellings.
var b64 = base64.RawURLEncoding.Strict()

// MintAccess returns a signed access token for a with the keyset's current
// key.
func (ks *KeySet) MintAccess(a Access) (string, error) {
	k := ks.current
	if k == nil {
		return "", errors.New("no signing key")
	}
	for _, f := range []string{a.Handle, a.Subject, a.ClientID, a.Grant, k.ID} {
		if len(f) > maxField {
			return "", fmt.Errorf("a token field is longer than %d bytes", maxField)
		}
	}
	payload := make([]byte, 0, 64+len(a.Handle)+len(a.Subject)+len(a.ClientID)+len(a.Grant)+len(k.ID))
	payload = append(payload, payloadVersion)
	payload = appendString(payload, k.ID)
	payload = binary.BigEndian.AppendUint64(payload, uint64(a.Expiry.Unix()))
	payload = binary.BigEndian.AppendUint64(payload, uint64(a.Scopes))
	for _, f := range []string{a.Handle, a.Subject, a.ClientID, a.Grant} {
		payload = appendString(payload, f)
	}
	sum := k.sign(payload, nil)
	return AccessPrefix + b64.EncodeToString(payload) + "." + b64.EncodeToString(sum), nil
}

// VerifyAccess checks a bearer's format, key, signature and expiry and
// returns what it asserts. Whether its grant still exists is the caller's
// check.
func (ks *KeySet) VerifyAccess(token string, now time.Time) (Access, error) {
	body, ok := strings.CutPrefix(token, AccessPrefix)
	if !ok {
		return Access{}, ErrFormat
	}
	if len(token) > maxTokenLen {
		return Access{}, ErrMalformed
	}
	// The decoder skips CR and LF: with them one token would have many
	// spellings.
	if strings.IndexByte(body, '\r') >= 0 || strings.IndexByte(body, '\n') >= 0 {
		return Access{}, ErrMalformed
	}
	encPayload, encMAC, ok := strings.Cut(body, ".")
	if !ok || b64.DecodedLen(len(encMAC)) != macSize {
		return Access{}, ErrMalformed
	}
	// One buffer for the encoded token, the payload and the signatures,
	// reused: the HMAC's interface lets every slice it reads escape, so a
	// stack array would be allocated anyway. With it, verifying a token
	// seen before allocates nothing (its claims come from ks.seen).
	scratch := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(scratch)
	buf := (*scratch)[:0]
	if need := len(body) + b64.DecodedLen(len(encPayload)) + 2*macSize; need > cap(buf) {
		buf = make([]byte, 0, need)
		*scratch = buf
	}
	buf = append(buf, body...)
	src := buf
	payload, err := b64.AppendDecode(src[len(src):], src[:len(encPayload)])
	if err != nil {
		return Access{}, ErrMalformed
	}
	sig, err := b64.AppendDecode(payload[len(payload):], src[len(encPayload)+1:])
	if err != nil {
		return Access{}, ErrMalformed
	}
	k, ok := ks.keyOf(payload)
	if !ok {
		return Access{}, ErrMalformed
	}
	if k == nil {
		return Access{}, ErrUnknownKey
	}
	if !k.verify(payload, sig, sig[len(sig):cap(sig)]) {
		return Access{}, ErrSignature
	}
	// The signature, now verified, names the payload: 32 bytes to look up
	// rather than the whole token.
	a, ok := ks.seen.get(sig)
	if !ok {
		if a, ok = parseAccess(string(payload)); !ok {
			return Access{}, ErrMalformed
		}
		ks.seen.put(string(sig), a)
	}
	if !now.Before(a.Expiry) {
		return a, ErrExpired
	}
	return a, nil
}

// keyOf returns the key a payload names (nil when the keyset has none of
// that id), and false when the payload does not start as one of ours.
func (ks *KeySet) keyOf(payload []byte) (*Key, bool) {
	if len(payload) < 2 || payload[0] != payloadVersion {
		return nil, false
	}
	n, size := binary.Uvarint(payload[1:])
	if size <= 0 || n > maxField || uint64(len(payload)-1-size) < n {
		return nil, false
	}
	// A map lookup with a converted key does not allocate.
	return ks.byID[string(payload[1+size:1+size+int(n)])], true
}

// parseAccess decodes a payload whose signature verified.
func parseAccess(payload string) (Access, bool) {
	r := reader{s: payload}
	r.byte()
	r.field()
	exp := int64(r.uint64())
	scopes := ScopeSet(r.uint64())
	a := Access{Handle: r.field(), Subject: r.field(), ClientID: r.field(), Grant: r.field(), Scopes: scopes, Expiry: time.Unix(exp, 0)}
	return a, !r.failed && len(r.s) == 0 && scopes.valid()
}

// scratchPool holds the buffers VerifyAccess decodes into.
var scratchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// maxSeen bounds the verified tokens whose claims are kept; past it they
// are all dropped.
const maxSeen = 10000

// seenTokens keeps the claims of verified tokens by their signature, so
// verifying a token again (every request of a connection brings the same
// one) costs its HMAC and no allocation. Only a token whose signature
// verified is looked up.
type seenTokens struct {
	mu     sync.RWMutex
	claims map[string]Access
}

func (s *seenTokens) get(sig []byte) (Access, bool) {
	s.mu.RLock()
	a, ok := s.claims[string(sig)]
	s.mu.RUnlock()
	return a, ok
}

func (s *seenTokens) put(sig string, a Access) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claims == nil || len(s.claims) >= maxSeen {
		s.claims = make(map[string]Access)
	}
	s.claims[sig] = a
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes a payload held in one string, so the fields it returns
// share that string's memory; it remembers the first failure.
type reader struct {
	s      string
	failed bool
}

func (r *reader) byte() byte {
	if len(r.s) < 1 {
		r.failed = true
		return 0
	}
	v := r.s[0]
	r.s = r.s[1:]
	return v
}

func (r *reader) uint64() uint64 {
	if len(r.s) < 8 {
		r.failed = true
		return 0
	}
	var v uint64
	for i := range 8 {
		v = v<<8 | uint64(r.s[i])
	}
	r.s = r.s[8:]
	return v
}

// field reads a uvarint length and that many bytes.
func (r *reader) field() string {
	var n uint64
	for shift, i := uint(0), 0; ; shift, i = shift+7, i+1 {
		if i >= len(r.s) || shift > 63 {
			r.failed = true
			return ""
		}
		c := r.s[i]
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			r.s = r.s[i+1:]
			break
		}
	}
	if n > maxField || uint64(len(r.s)) < n {
		r.failed = true
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

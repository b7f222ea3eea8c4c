package tokens

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Key is one HMAC signing key.
type Key struct {
	// ID names the key inside tokens.
	ID string
	// Secret is at least 32 random bytes.
	Secret []byte

	// macs reuses HMAC states: building one costs more than using it.
	macs *sync.Pool
	// aead seals values (Seal) with a key derived from Secret.
	aead cipher.AEAD
}

// sign appends the HMAC-SHA256 of payload to dst.
func (k *Key) sign(payload, dst []byte) []byte {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(payload)
	dst = m.Sum(dst)
	k.macs.Put(m)
	return dst
}

// verify checks sig against payload in constant time, using scratch for the
// expected value when it is large enough.
func (k *Key) verify(payload, sig, scratch []byte) bool {
	return hmac.Equal(k.sign(payload, scratch[:0]), sig)
}

// KeySet is an immutable set of keys: the current one signs, all of them
// verify, so tokens signed before a rotation stay valid while their key is
// kept. Build a new KeySet to rotate.
type KeySet struct {
	current *Key
	byID    map[string]*Key
	// seen keeps the claims of tokens verified before (access.go).
	seen seenTokens
}

// MinSecretSize is the shortest key accepted.
const MinSecretSize = 32

// NewKeySet returns a keyset that signs with the key named current and
// verifies with all keys.
func NewKeySet(current string, keys ...Key) (*KeySet, error) {
	ks := &KeySet{byID: make(map[string]*Key, len(keys))}
	for i := range keys {
		k := keys[i]
		if k.ID == "" || len(k.ID) > 64 {
			return nil, errors.New("a key id must have 1 to 64 bytes")
		}
		if len(k.Secret) < MinSecretSize {
			return nil, fmt.Errorf("key %q: secret shorter than %d bytes", k.ID, MinSecretSize)
		}
		if _, dup := ks.byID[k.ID]; dup {
			return nil, fmt.Errorf("key %q listed twice", k.ID)
		}
		secret := k.Secret
		k.macs = &sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}
		// The sealing key is derived, so the HMAC key is never used for
		// anything else.
		sealKey, err := hkdf.Key(sha256.New, secret, nil, "mcp-handle-operator seal", chacha20poly1305.KeySize)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		if k.aead, err = chacha20poly1305.NewX(sealKey); err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		ks.byID[k.ID] = &k
	}
	ks.current = ks.byID[current]
	if ks.current == nil {
		return nil, fmt.Errorf("current key %q is not in the set", current)
	}
	return ks, nil
}

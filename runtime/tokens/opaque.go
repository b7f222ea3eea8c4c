package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
)

// Prefixes of the opaque credentials. Each carries the name of its grant so
// any replica can find the grant without an index, and a random part whose
// hash the grant stores.
const (
	RefreshPrefix = "mcpr1_"
	CodePrefix    = "mcpc1_"
)

// NewOpaque returns a new credential for grant and the hash to store.
func NewOpaque(prefix, grant string) (token, hash string) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24+)
	token = prefix + grant + "." + b64.EncodeToString(secret)
	return token, Hash(token)
}

// ParseOpaque returns the grant named by a credential of the given prefix.
func ParseOpaque(prefix, token string) (grant string, ok bool) {
	body, ok := strings.CutPrefix(token, prefix)
	if !ok || len(token) > maxTokenLen {
		return "", false
	}
	grant, secret, ok := strings.Cut(body, ".")
	if !ok || grant == "" || b64.DecodedLen(len(secret)) != 32 {
		return "", false
	}
	return grant, true
}

// Hash is the stored form of a credential: SHA-256, base64url.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}

// HashEqual compares a credential with a stored hash in constant time.
func HashEqual(token, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(Hash(token)), []byte(hash)) == 1
}

// RandomID returns 16 random lowercase letters and digits, for object names.
func RandomID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

package tokens

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrSealed is returned for a sealed value that is malformed, forged, for
// another purpose or expired.
var ErrSealed = errors.New("the sealed value is invalid or expired")

// sealed is the plaintext of a sealed value.
type sealed struct {
	Expiry int64           `json:"e"`
	Value  json.RawMessage `json:"v"`
}

// Seal encrypts and authenticates v as JSON for one purpose (an MCP
// session, an authorization request, a sign-in session, a CSRF token)
// until expiry, with XChaCha20-Poly1305 under the current key: any replica
// with the key opens it, its holder cannot read it (session ids travel in
// headers and logs), and the purpose is bound as associated data.
// The form is base64url(key id) "." base64url(nonce || ciphertext).
func (ks *KeySet) Seal(purpose string, v any, expiry time.Time) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(sealed{Expiry: expiry.Unix(), Value: raw})
	if err != nil {
		return "", err
	}
	k := ks.current
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	_, _ = rand.Read(out) // crypto/rand.Read never fails (Go 1.24+)
	out = k.aead.Seal(out, out, plain, sealAD(purpose, k.ID))
	return b64.EncodeToString([]byte(k.ID)) + "." + b64.EncodeToString(out), nil
}

// Open decrypts a sealed value of the purpose and decodes it into v. Values
// sealed under any key of the set open, so a rotation keeps them valid while
// their key is kept.
func (ks *KeySet) Open(purpose, s string, v any, now time.Time) error {
	encID, encBox, ok := strings.Cut(s, ".")
	// CR and LF would be skipped by the decoder (see VerifyAccess).
	if !ok || len(s) > maxTokenLen || strings.ContainsAny(s, "\r\n") {
		return ErrSealed
	}
	id, err1 := b64.DecodeString(encID)
	box, err2 := b64.DecodeString(encBox)
	if err1 != nil || err2 != nil || len(box) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return ErrSealed
	}
	k := ks.byID[string(id)]
	if k == nil {
		return ErrSealed
	}
	nonce, ciphertext := box[:chacha20poly1305.NonceSizeX], box[chacha20poly1305.NonceSizeX:]
	plain, err := k.aead.Open(nil, nonce, ciphertext, sealAD(purpose, k.ID))
	if err != nil {
		return ErrSealed
	}
	var env sealed
	if json.Unmarshal(plain, &env) != nil || now.Unix() >= env.Expiry || json.Unmarshal(env.Value, v) != nil {
		return ErrSealed
	}
	return nil
}

// sealAD is the associated data of a sealed value: its purpose and key.
func sealAD(purpose, keyID string) []byte {
	return []byte("mcp-handle-operator seal\x00" + purpose + "\x00" + keyID)
}

package tokens

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ErrSealed is returned for a sealed value that is malformed, forged, for
// another purpose or expired.
var ErrSealed = errors.New("the signed value is invalid or expired")

// sealed is the envelope of a signed value.
type sealed struct {
	Purpose string          `json:"p"`
	Expiry  int64           `json:"e"`
	Key     string          `json:"k"`
	Value   json.RawMessage `json:"v"`
}

// Seal signs v as JSON for one purpose (a session, an authorization request,
// a CSRF token) until expiry. The value is readable by its holder: seal only
// what the holder may see.
func (ks *KeySet) Seal(purpose string, v any, expiry time.Time) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(sealed{Purpose: purpose, Expiry: expiry.Unix(), Key: ks.current.ID, Value: raw})
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(body) + "." + b64.EncodeToString(ks.current.sign(body, nil)), nil
}

// Open verifies a sealed value of the purpose and decodes it into v.
func (ks *KeySet) Open(purpose, s string, v any, now time.Time) error {
	encBody, encSig, ok := strings.Cut(s, ".")
	// CR and LF would be skipped by the decoder (see VerifyAccess).
	if !ok || len(s) > maxTokenLen || strings.ContainsAny(s, "\r\n") {
		return ErrSealed
	}
	body, err1 := b64.DecodeString(encBody)
	sig, err2 := b64.DecodeString(encSig)
	if err1 != nil || err2 != nil {
		return ErrSealed
	}
	var env sealed
	if json.Unmarshal(body, &env) != nil {
		return ErrSealed
	}
	k := ks.byID[env.Key]
	if k == nil || !k.verify(body, sig, nil) || env.Purpose != purpose || now.Unix() >= env.Expiry {
		return ErrSealed
	}
	if json.Unmarshal(env.Value, v) != nil {
		return ErrSealed
	}
	return nil
}

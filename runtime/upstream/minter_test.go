package upstream

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const issuer = "https://ai.10x.in"

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newSecret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := NewKeySecret("mcp-system", DefaultSecretName, t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newMinter(t *testing.T, secret *corev1.Secret) *Minter {
	t.Helper()
	m, err := NewMinter(issuer, secret)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// verify checks token against a JWK Set as an upstream would: ES256 only,
// typ at+jwt, the key named by kid, then the registered claims.
func verify(token string, jwks []byte, audience string, now time.Time) (*TokenClaims, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, err
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, err
	}
	h := tok.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != TokenType {
		return nil, errors.New("wrong typ")
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, errors.New("unknown kid " + h.KeyID)
	}
	var c TokenClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return nil, err
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: now}, 0); err != nil {
		return nil, err
	}
	return &c, nil
}

var claims = Claims{Handle: "acme", Subject: "alice@example.com", ClientID: "acme-chatgpt", Grant: "acme-chatgpt-x7k2",
	Scopes: []string{"links.read", "links.write"}}

const audience = "http://links-toolset.mcp-system.svc:8080/mcp"

func TestMintVerifiesAgainstJWKS(t *testing.T) {
	m := newMinter(t, newSecret(t))
	token, err := m.Mint(audience, claims, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := verify(token, m.JWKS(), audience, t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.Handle != "acme" || c.Subject != "alice@example.com" {
		t.Errorf("claims %+v", c)
	}
	// Expired after the default 60 s.
	if _, err := verify(token, m.JWKS(), audience, t0.Add(61*time.Second)); !errors.Is(err, jwt.ErrExpired) {
		t.Errorf("after 61 s: %v, want expired", err)
	}
	// Another audience.
	if _, err := verify(token, m.JWKS(), "https://other.example/mcp", t0); !errors.Is(err, jwt.ErrInvalidAudience) {
		t.Errorf("other audience: %v", err)
	}
}

func TestClaimsExact(t *testing.T) {
	m := newMinter(t, newSecret(t))
	m.Lifetime = 2 * time.Minute
	token, err := m.Mint(audience, claims, t0.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := tok.Headers[0]
	if h.Algorithm != "ES256" || h.KeyID != m.CurrentKeyID() || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
		t.Errorf("header alg=%s kid=%s typ=%v", h.Algorithm, h.KeyID, h.ExtraHeaders[jose.HeaderType])
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := tok.Claims(set.Keys[0].Key, &payload); err != nil {
		t.Fatal(err)
	}
	jti, _ := payload["jti"].(string)
	if len(jti) < 16 {
		t.Errorf("jti %q", jti)
	}
	delete(payload, "jti")
	want := map[string]any{
		"iss":       issuer,
		"aud":       audience,
		"sub":       "alice@example.com",
		"client_id": "acme-chatgpt",
		"scope":     "links.read links.write",
		"handle":    "acme",
		"grant":     "acme-chatgpt-x7k2",
		"iat":       float64(t0.Unix()),
		"nbf":       float64(t0.Unix()),
		"exp":       float64(t0.Add(2 * time.Minute).Unix()),
	}
	if !reflect.DeepEqual(payload, want) {
		t.Errorf("payload\n got %v\nwant %v", payload, want)
	}
	other, _ := m.Mint(audience, claims, t0)
	if tokJTI(t, other) == jti {
		t.Error("two tokens share a jti")
	}
}

func tokJTI(t *testing.T, token string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestMintRefusesIncompleteClaims(t *testing.T) {
	m := newMinter(t, newSecret(t))
	for name, tc := range map[string]struct {
		aud string
		c   Claims
	}{
		"no audience":      {"", claims},
		"no handle":        {audience, Claims{Subject: "a", ClientID: "c"}},
		"no subject":       {audience, Claims{Handle: "acme", ClientID: "c"}},
		"no client":        {audience, Claims{Handle: "acme", Subject: "a"}},
		"scope with space": {audience, Claims{Handle: "acme", Subject: "a", ClientID: "c", Scopes: []string{"links.read links.write"}}},
	} {
		if _, err := m.Mint(tc.aud, tc.c, t0); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
}

func TestRotationKeepsOldTokensVerifying(t *testing.T) {
	secret := newSecret(t)
	m := newMinter(t, secret)
	oldKID := m.CurrentKeyID()
	oldToken, err := m.Mint(audience, claims, t0)
	if err != nil {
		t.Fatal(err)
	}

	// Add a key without moving the annotation: published, not signing.
	kid, key, err := NewKey(t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rotated := secret.DeepCopy()
	rotated.Data[kid] = key
	if err := m.Update(rotated); err != nil {
		t.Fatal(err)
	}
	if m.CurrentKeyID() != oldKID {
		t.Errorf("the new key signs before the annotation moved")
	}
	if !strings.Contains(string(m.JWKS()), kid) {
		t.Error("the new key is not published")
	}

	// Move the annotation.
	rotated.Annotations[CurrentKeyAnnotation] = kid
	if err := m.Update(rotated); err != nil {
		t.Fatal(err)
	}
	newToken, err := m.Mint(audience, claims, t0)
	if err != nil {
		t.Fatal(err)
	}
	if k := headerKID(t, newToken); k != kid {
		t.Errorf("signed with %s, want %s", k, kid)
	}
	for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
		if _, err := verify(tok, m.JWKS(), audience, t0); err != nil {
			t.Errorf("%s token: %v", name, err)
		}
	}

	// Remove the old key: its tokens stop verifying.
	delete(rotated.Data, oldKID)
	if err := m.Update(rotated); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(oldToken, m.JWKS(), audience, t0); err == nil {
		t.Error("a token of a removed key verifies")
	}
	if _, err := verify(newToken, m.JWKS(), audience, t0); err != nil {
		t.Error(err)
	}
}

func headerKID(t *testing.T, token string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

func TestForeignKeySetFails(t *testing.T) {
	m := newMinter(t, newSecret(t))
	other := newMinter(t, newSecret(t))
	token, err := other.Mint(audience, claims, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(token, m.JWKS(), audience, t0); err == nil {
		t.Fatal("a token of another key set verifies")
	}
	// The same kid with another key: the signature check fails.
	mine := newSecret(t)
	theirs := mine.DeepCopy()
	_, theirs.Data[mine.Annotations[CurrentKeyAnnotation]], _ = NewKey(t0)
	m, other = newMinter(t, mine), newMinter(t, theirs)
	token, err = other.Mint(audience, claims, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(token, m.JWKS(), audience, t0); err == nil {
		t.Fatal("a token signed by another key under the same kid verifies")
	}
}

func TestBrokenSecretKeepsKeys(t *testing.T) {
	secret := newSecret(t)
	m := newMinter(t, secret)
	before := m.JWKS()
	for name, s := range map[string]*corev1.Secret{
		"empty":              {ObjectMeta: metav1.ObjectMeta{Name: "x"}},
		"not PEM":            withData(secret, "bad", []byte("hello")),
		"current is missing": withAnnotation(secret, "nope"),
		"PEM that is no key": withData(secret, "bad", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")),
	} {
		if err := m.Update(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if string(m.JWKS()) != string(before) {
		t.Error("a broken Secret changed the keys")
	}
	// Without the annotation the greatest kid signs.
	s := secret.DeepCopy()
	s.Annotations = nil
	kid, key, _ := NewKey(t0.Add(time.Hour))
	s.Data[kid] = key
	if err := m.Update(s); err != nil {
		t.Fatal(err)
	}
	if m.CurrentKeyID() != kid {
		t.Errorf("current %s, want the greatest %s", m.CurrentKeyID(), kid)
	}
}

func withData(s *corev1.Secret, k string, v []byte) *corev1.Secret {
	s = s.DeepCopy()
	s.Data = maps.Clone(s.Data)
	s.Data[k] = v
	return s
}

func withAnnotation(s *corev1.Secret, current string) *corev1.Secret {
	s = s.DeepCopy()
	s.Annotations[CurrentKeyAnnotation] = current
	return s
}

func TestServeJWKS(t *testing.T) {
	m := newMinter(t, newSecret(t))
	rec := httptest.NewRecorder()
	m.ServeJWKS(rec, httptest.NewRequest(http.MethodGet, issuer+"/.well-known/jwks.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("%d keys", len(doc.Keys))
	}
	k := doc.Keys[0]
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["kid"] != m.CurrentKeyID() {
		t.Errorf("key %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("the JWK Set publishes the private key")
	}
}

func TestSEC1KeysAreRead(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{Data: map[string][]byte{"sec1": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})}}
	m := newMinter(t, secret)
	token, err := m.Mint(audience, claims, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(token, m.JWKS(), audience, t0); err != nil {
		t.Fatal(err)
	}
	// P-384 is refused.
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ = x509.MarshalPKCS8PrivateKey(other)
	if err := m.Update(withData(secret, "p384", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))); err == nil {
		t.Error("a P-384 key was accepted")
	}
}

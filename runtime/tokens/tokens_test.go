package tokens

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

func keyset(t testing.TB, current string, ids ...string) *KeySet {
	t.Helper()
	var keys []Key
	for _, id := range ids {
		keys = append(keys, Key{ID: id, Secret: bytes.Repeat([]byte(id[:1]), 32)})
	}
	ks, err := NewKeySet(current, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func sample(t testing.TB) Access {
	t.Helper()
	scopes, ok := NewScopeSet(mcpv1alpha1.ScopeMCPConnect, mcpv1alpha1.ScopeSkillsRead, mcpv1alpha1.ScopeLinksRead)
	if !ok {
		t.Fatal("unknown scope")
	}
	return Access{Handle: "acme", Subject: "https://idp.example.com#alice", ClientID: "acme-chatgpt", Grant: "conn-7f3a", Scopes: scopes,
		Expiry: time.Unix(1_900_000_000, 0)}
}

func TestAccessRoundTrip(t *testing.T) {
	ks := keyset(t, "k1", "k1")
	want := sample(t)
	tok, err := ks.MintAccess(want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, AccessPrefix) {
		t.Fatalf("token %q lacks the mcpv1_ prefix", tok)
	}
	got, err := ks.VerifyAccess(tok, want.Expiry.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Handle != want.Handle || got.Subject != want.Subject || got.ClientID != want.ClientID || got.Grant != want.Grant ||
		got.Scopes != want.Scopes || !got.Expiry.Equal(want.Expiry) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if s := got.Scopes.Scopes(); len(s) != 3 || s[2] != mcpv1alpha1.ScopeLinksRead {
		t.Errorf("scopes = %v", s)
	}
}

func TestAccessRefusals(t *testing.T) {
	ks := keyset(t, "k1", "k1")
	a := sample(t)
	tok, err := ks.MintAccess(a)
	if err != nil {
		t.Fatal(err)
	}
	valid := a.Expiry.Add(-time.Second)
	tampered := []byte(tok)
	tampered[strings.Index(tok, ".")-5] ^= 1 // inside the grant name
	cases := []struct {
		name  string
		token string
		now   time.Time
		ks    *KeySet
		want  error
	}{
		{"personal access token", "pat_0123456789", valid, ks, ErrFormat},
		{"JWT from elsewhere", "eyJhbGciOiJIUzI1NiJ9.e30.sig", valid, ks, ErrFormat},
		{"empty", "", valid, ks, ErrFormat},
		{"expired", tok, a.Expiry, ks, ErrExpired},
		{"tampered payload", string(tampered), valid, ks, ErrSignature},
		{"no signature", strings.Split(tok, ".")[0], valid, ks, ErrMalformed},
		{"truncated signature", tok[:len(tok)-2], valid, ks, ErrMalformed},
		{"garbage", AccessPrefix + "!!!." + strings.Repeat("A", 43), valid, ks, ErrMalformed},
		{"oversized", AccessPrefix + strings.Repeat("A", maxTokenLen), valid, ks, ErrMalformed},
		{"retired key", tok, valid, keyset(t, "k2", "k2"), ErrUnknownKey},
		{"same id, other secret", tok, valid, func() *KeySet {
			k, _ := NewKeySet("k1", Key{ID: "k1", Secret: bytes.Repeat([]byte("x"), 32)})
			return k
		}(), ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.ks.VerifyAccess(tc.token, tc.now); !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRotationKeepsOldTokensValid(t *testing.T) {
	old := keyset(t, "k1", "k1")
	tok, err := old.MintAccess(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	rotated := keyset(t, "k2", "k1", "k2")
	if _, err := rotated.VerifyAccess(tok, time.Unix(1_800_000_000, 0)); err != nil {
		t.Errorf("a token of the previous key is refused during the overlap: %v", err)
	}
	fresh, err := rotated.MintAccess(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.VerifyAccess(fresh, time.Unix(1_800_000_000, 0)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a replica without the new key: %v, want ErrUnknownKey", err)
	}
}

func TestNewKeySetRefusesWeakSets(t *testing.T) {
	good := bytes.Repeat([]byte("s"), 32)
	for name, build := range map[string]func() (*KeySet, error){
		"short secret":    func() (*KeySet, error) { return NewKeySet("a", Key{ID: "a", Secret: []byte("short")}) },
		"missing current": func() (*KeySet, error) { return NewKeySet("b", Key{ID: "a", Secret: good}) },
		"duplicate id":    func() (*KeySet, error) { return NewKeySet("a", Key{ID: "a", Secret: good}, Key{ID: "a", Secret: good}) },
		"empty id":        func() (*KeySet, error) { return NewKeySet("", Key{ID: "", Secret: good}) },
	} {
		if _, err := build(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOpaque(t *testing.T) {
	tok, hash := NewOpaque(RefreshPrefix, "conn-7f3a")
	grant, ok := ParseOpaque(RefreshPrefix, tok)
	if !ok || grant != "conn-7f3a" {
		t.Fatalf("ParseOpaque = %q, %v", grant, ok)
	}
	if !HashEqual(tok, hash) || HashEqual(tok+"x", hash) {
		t.Error("HashEqual does not tell the token from another")
	}
	other, _ := NewOpaque(RefreshPrefix, "conn-7f3a")
	if other == tok {
		t.Error("two tokens are equal")
	}
	for _, bad := range []string{"", "mcpr1_", "mcpr1_.abc", "mcpc1_conn." + strings.Repeat("A", 43), "mcpr1_conn.short"} {
		if _, ok := ParseOpaque(RefreshPrefix, bad); ok {
			t.Errorf("ParseOpaque accepted %q", bad)
		}
	}
}

func TestScopeSet(t *testing.T) {
	if _, ok := NewScopeSet("links.admin"); ok {
		t.Error("an unknown scope was accepted")
	}
	have, _ := NewScopeSet(mcpv1alpha1.ScopeMCPConnect, mcpv1alpha1.ScopeLinksRead)
	want, _ := NewScopeSet(mcpv1alpha1.ScopeLinksRead, mcpv1alpha1.ScopeLinksWrite)
	if have.Has(want) {
		t.Error("Has ignores a missing scope")
	}
	if m := have.Missing(want).Scopes(); len(m) != 1 || m[0] != mcpv1alpha1.ScopeLinksWrite {
		t.Errorf("Missing = %v", m)
	}
}

func FuzzVerifyAccess(f *testing.F) {
	ks := keyset(f, "k1", "k1")
	tok, _ := ks.MintAccess(sample(f))
	f.Add(tok)
	f.Add("mcpv1_AQ.AAAA")
	f.Add("mcpv1_" + strings.Repeat("A", 100) + "." + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ks.VerifyAccess(s, time.Unix(1_800_000_000, 0))
		if err == nil {
			// Only a token minted with the key verifies: re-minting its
			// claims must give the same token.
			again, _ := ks.MintAccess(a)
			if again != s {
				t.Fatalf("accepted a token the key did not mint: %q", s)
			}
		}
	})
}

func BenchmarkVerifyAccess(b *testing.B) {
	ks := keyset(b, "k1", "k1", "k0")
	tok, err := ks.MintAccess(sample(b))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.VerifyAccess(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSeal(t *testing.T) {
	ks := keyset(t, "k1", "k1")
	now := time.Unix(1_800_000_000, 0)
	type session struct{ Email string }
	s, err := ks.Seal("session", session{Email: "a@example.com"}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got session
	if err := ks.Open("session", s, &got, now); err != nil || got.Email != "a@example.com" {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	// The holder cannot read it: no part decodes to the value.
	for _, part := range strings.Split(s, ".") {
		if raw, _ := b64.DecodeString(part); bytes.Contains(raw, []byte("a@example.com")) {
			t.Errorf("the sealed value %q shows the e-mail", s)
		}
	}
	// After a rotation that keeps k1, values sealed with it still open.
	rotated := keyset(t, "k2", "k1", "k2")
	if err := rotated.Open("session", s, &got, now); err != nil {
		t.Errorf("Open after a rotation: %v", err)
	}
	tampered := []byte(s)
	tampered[5] ^= 1
	for name, tc := range map[string]struct {
		purpose, value string
		ks             *KeySet
		now            time.Time
	}{
		"other purpose": {"csrf", s, ks, now},
		"expired":       {"session", s, ks, now.Add(time.Hour)},
		"tampered":      {"session", string(tampered), ks, now},
		"other key":     {"session", s, keyset(t, "k2", "k2"), now},
		"garbage":       {"session", "x.y", ks, now},
	} {
		if err := tc.ks.Open(tc.purpose, tc.value, &got, tc.now); !errors.Is(err, ErrSealed) {
			t.Errorf("%s: %v, want ErrSealed", name, err)
		}
	}
}

// BenchmarkVerifyAccessVsHMAC measures, in one run, verifying an access
// token against computing the HMAC-SHA256 it checks (the same key and
// payload), in alternating blocks, and reports their ratio (issue aim:
// at most 1.5, with no allocations on a token seen before).
func BenchmarkVerifyAccessVsHMAC(b *testing.B) {
	ks := keyset(b, "k1", "k1", "k0")
	tok, err := ks.MintAccess(sample(b))
	if err != nil {
		b.Fatal(err)
	}
	encPayload, _, _ := strings.Cut(strings.TrimPrefix(tok, AccessPrefix), ".")
	payload, err := b64.DecodeString(encPayload)
	if err != nil {
		b.Fatal(err)
	}
	k, now := ks.current, time.Unix(1_800_000_000, 0)
	scratch := make([]byte, 0, macSize)
	const block = 100
	var hmacTime, verifyTime time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		for range block {
			scratch = k.sign(payload, scratch[:0])
		}
		mid := time.Now()
		for range block {
			if _, err := ks.VerifyAccess(tok, now); err != nil {
				b.Fatal(err)
			}
		}
		hmacTime, verifyTime = hmacTime+mid.Sub(start), verifyTime+time.Since(mid)
	}
	b.ReportMetric(float64(hmacTime.Nanoseconds())/float64(b.N*block), "hmac-ns/op")
	b.ReportMetric(float64(verifyTime.Nanoseconds())/float64(b.N*block), "verify-ns/op")
	b.ReportMetric(float64(verifyTime)/float64(hmacTime), "verify/hmac")
}

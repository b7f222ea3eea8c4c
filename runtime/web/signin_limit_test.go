package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/10xdotin/mcp-handle-operator/runtime/ratelimit"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

type keyRing struct{ ks *tokens.KeySet }

func (k keyRing) Keys() *tokens.KeySet { return k.ks }

// countingUsers refuses every password and counts the attempts.
type countingUsers struct{ attempts int }

func (u *countingUsers) Authenticate(context.Context, string, string) (*Session, error) {
	u.attempts++
	return nil, errors.New("wrong password")
}

// TestSignInLimit: past the per-address limit, POST /ui/login shows the
// form again with 429 and Retry-After, without checking the password, and
// takes sign-ins again once a token has refilled.
func TestSignInLimit(t *testing.T) {
	ks, err := tokens.NewKeySet("k1", tokens.Key{ID: "k1", Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	users := &countingUsers{}
	f := &Flow{Users: users, Keys: keyRing{ks}, Now: clock,
		SignInLimit: &ratelimit.PerAddress{Buckets: ratelimit.Keyed{Rate: ratelimit.Rate{PerMinute: 2, Burst: 1}, Now: clock}}}
	login := func() *httptest.ResponseRecorder {
		form := url.Values{"next": {"/ui/integrations"}, "email": {"a@example.com"}, "password": {"x"}, "csrf": {csrfToken(ks, "n", now)}}
		r := httptest.NewRequest("POST", "/ui/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: "__Host-mcp_login", Value: "n"})
		r.RemoteAddr = "198.51.100.1:4000"
		w := httptest.NewRecorder()
		f.Login(w, r)
		return w
	}
	if w := login(); w.Code == http.StatusTooManyRequests || users.attempts != 1 {
		t.Fatalf("first sign-in: %d, %d password checks; want it checked", w.Code, users.attempts)
	}
	w := login()
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "30" || !strings.Contains(w.Body.String(), "Too many sign-in attempts") {
		t.Fatalf("second sign-in: %d Retry-After %q; want 429 after 30 s with the form saying why", w.Code, w.Header().Get("Retry-After"))
	}
	if users.attempts != 1 {
		t.Fatal("the password of a refused sign-in was checked")
	}
	now = now.Add(30 * time.Second)
	if w := login(); w.Code == http.StatusTooManyRequests || users.attempts != 2 {
		t.Fatalf("after Retry-After: %d, %d password checks", w.Code, users.attempts)
	}
}

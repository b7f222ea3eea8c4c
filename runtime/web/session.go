package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// sessionCookie is host-only, https-only and invisible to scripts.
const sessionCookie = "__Host-mcp_session"

// Session is a signed-in user.
type Session struct {
	Subject string   `json:"sub"`
	Email   string   `json:"email"`
	Groups  []string `json:"groups,omitempty"`
	// Nonce ties CSRF tokens to this session.
	Nonce string `json:"nonce"`
}

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func readSession(r *http.Request, ks *tokens.KeySet, now time.Time) *Session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	var s Session
	if ks.Open("session", c.Value, &s, now) != nil {
		return nil
	}
	return &s
}

func writeSession(w http.ResponseWriter, ks *tokens.KeySet, s *Session, now time.Time, ttl time.Duration) error {
	v, err := ks.Seal("session", s, now.Add(ttl))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(ttl / time.Second)})
	return nil
}

// csrfToken returns the form token of a session (or, before sign-in, of a
// pre-session nonce).
func csrfToken(ks *tokens.KeySet, nonce string, now time.Time) string {
	v, _ := ks.Seal("csrf", nonce, now.Add(time.Hour))
	return v
}

func validCSRF(ks *tokens.KeySet, token, nonce string, now time.Time) bool {
	var got string
	return nonce != "" && ks.Open("csrf", token, &got, now) == nil && got == nonce
}

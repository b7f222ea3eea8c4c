package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// OIDCStartPath starts sign-in at the upstream provider.
const OIDCStartPath = "/ui/oidc/start"

// oidcFlowTTL bounds the time between leaving for the provider and coming
// back.
const oidcFlowTTL = 10 * time.Minute

// maxCookie is the largest cookie value browsers are known to keep.
const maxCookie = 3800

// OIDC signs people in through an upstream OpenID Connect provider with the
// authorization code flow, PKCE S256, state and nonce. Nothing is kept in
// memory between the two legs: the flow travels sealed in a short-lived
// cookie, so any replica can finish what another started. The provider is
// discovered on first use (and again after a failure), so the runtime starts
// while the provider is down.
type OIDC struct {
	IssuerURL   string
	ClientID    string
	RedirectURL string
	Scopes      []string
	GroupsClaim string
	DisplayName string
	// ClientSecret returns the client secret; it is read on every code
	// exchange, so a rotated secret applies without a restart.
	ClientSecret func(ctx context.Context) (string, error)
	// HTTPClient talks to the provider; nil means one with a 10 s timeout.
	HTTPClient *http.Client
	// Timeout bounds discovery and the code exchange; default 10 s.
	Timeout time.Duration
	// RetryAfter is how long a failed discovery is reported before the next
	// attempt; default 5 s.
	RetryAfter time.Duration
	// Log receives upstream failures (the pages show only a summary).
	Log *slog.Logger

	mu       sync.Mutex
	provider *oidc.Provider
	err      error
	failedAt time.Time
}

// NewOIDC returns the sign-in of the platform configuration's
// signIn.oidc, or nil when it sets none.
func NewOIDC(cfg *platform.Config, secret func(context.Context) (string, error), log *slog.Logger) *OIDC {
	o := cfg.SignIn.OIDC
	if o == nil {
		return nil
	}
	return &OIDC{
		IssuerURL: o.IssuerURL, ClientID: o.ClientID, RedirectURL: cfg.OIDCRedirectURL(), Scopes: o.Scopes,
		GroupsClaim: o.GroupsClaim, DisplayName: o.DisplayName, ClientSecret: secret, Log: log,
	}
}

// SecretValue reads one key of a Secret on every use.
type SecretValue struct {
	Reader    client.Reader
	Namespace string
	Name      string
	Key       string
}

// Get returns the key's value.
func (s SecretValue) Get(ctx context.Context) (string, error) {
	secret := &corev1.Secret{}
	if err := s.Reader.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Name}, secret); err != nil {
		return "", fmt.Errorf("failed to read the Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	v := strings.TrimSpace(string(secret.Data[s.Key]))
	if v == "" {
		return "", fmt.Errorf("the Secret %s/%s has no key %s", s.Namespace, s.Name, s.Key)
	}
	return v, nil
}

func (o *OIDC) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 10 * time.Second
}

func (o *OIDC) retryAfter() time.Duration {
	if o.RetryAfter > 0 {
		return o.RetryAfter
	}
	return 5 * time.Second
}

// clientContext carries the HTTP client to go-oidc and x/oauth2.
func (o *OIDC) clientContext(ctx context.Context) context.Context {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.timeout()}
	}
	return oidc.ClientContext(ctx, hc)
}

func (o *OIDC) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// Provider returns the discovered provider, discovering it when needed.
// Concurrent callers share one attempt; after a failure, callers get its
// error until RetryAfter has passed.
func (o *OIDC) Provider(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	if o.err != nil && time.Since(o.failedAt) < o.retryAfter() {
		return nil, o.err
	}
	// The attempt is not cut short by the request that triggered it going
	// away, only by the timeout.
	dctx, cancel := context.WithTimeout(o.clientContext(context.WithoutCancel(ctx)), o.timeout())
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.IssuerURL)
	if err != nil {
		o.err, o.failedAt = fmt.Errorf("OpenID Connect discovery at %s failed: %w", o.IssuerURL, err), time.Now()
		o.log().Error("OpenID Connect discovery failed", "issuer", o.IssuerURL, "error", err)
		return nil, o.err
	}
	o.provider, o.err = p, nil
	return p, nil
}

// Warm discovers the provider in the background, retrying with backoff
// until it succeeds or ctx ends, so the first sign-in does not wait.
func (o *OIDC) Warm(ctx context.Context) {
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		if _, err := o.Provider(ctx); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, o.retryAfter())):
		}
	}
}

func (o *OIDC) oauth2Config(p *oidc.Provider, secret string) *oauth2.Config {
	return &oauth2.Config{ClientID: o.ClientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: o.RedirectURL, Scopes: o.Scopes}
}

// oidcFlow is what the browser carries, sealed, to the provider and back.
type oidcFlow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	// Request is the sealed authorization request to resume.
	Request string `json:"req"`
	// Next is the runtime's own page to return to instead (returnPath).
	Next string `json:"next,omitempty"`
}

// oidcCookie names the flow cookie after the start of its state, so sign-ins
// in two tabs do not overwrite each other.
func oidcCookie(state string) string { return "__Host-mcp_oidc_" + state[:8] }

// OIDCStart serves GET /ui/oidc/start: it sends the browser to the
// provider with a fresh state, nonce and PKCE challenge.
func (f *Flow) OIDCStart(w http.ResponseWriter, r *http.Request) {
	if f.OIDC == nil {
		errorPage(w, http.StatusNotFound, oautherr.InvalidRequest, "sign-in through an OpenID Connect provider is not configured")
		return
	}
	sealed, next := r.URL.Query().Get("req"), ""
	if sealed == "" && r.URL.Query().Has("next") {
		var ok bool
		if next, ok = returnPath(r.URL.Query().Get("next")); !ok {
			errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "there is no page to return to after signing in")
			return
		}
	} else if _, _, ok := f.openRequest(w, r, sealed); !ok {
		return
	}
	p, err := f.OIDC.Provider(r.Context())
	if err != nil {
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, f.OIDC.DisplayName+" cannot be reached; retry shortly")
		return
	}
	flow := oidcFlow{State: newNonce(), Nonce: newNonce(), Verifier: oauth2.GenerateVerifier(), Request: sealed, Next: next}
	v, err := f.Keys.Keys().Seal("oidc-flow", flow, f.Now().Add(oidcFlowTTL))
	if err != nil {
		errorPage(w, http.StatusInternalServerError, oautherr.ServerError, "the sign-in could not be signed")
		return
	}
	if len(v) > maxCookie {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "this authorization request is too large to sign in with "+f.OIDC.DisplayName)
		return
	}
	// Lax: the provider sends the browser back with a top-level GET.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie(flow.State), Value: v, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(oidcFlowTTL / time.Second)})
	secureHeaders(w)
	target := f.OIDC.oauth2Config(p, "").AuthCodeURL(flow.State, oidc.Nonce(flow.Nonce), oauth2.S256ChallengeOption(flow.Verifier))
	http.Redirect(w, r, target, http.StatusFound)
}

// OIDCCallback serves GET /ui/oidc/callback: it checks that the answer
// belongs to a sign-in this browser started, redeems the code, verifies the
// ID token, signs the user in and resumes the authorization request. Every
// failure is a page here, never a redirect to the client.
func (f *Flow) OIDCCallback(w http.ResponseWriter, r *http.Request) {
	o := f.OIDC
	if o == nil {
		errorPage(w, http.StatusNotFound, oautherr.InvalidRequest, "sign-in through an OpenID Connect provider is not configured")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	var flow oidcFlow
	found := false
	if len(state) >= 8 {
		name := oidcCookie(state)
		if c, err := r.Cookie(name); err == nil {
			found = f.Keys.Keys().Open("oidc-flow", c.Value, &flow, f.Now()) == nil &&
				subtle.ConstantTimeCompare([]byte(flow.State), []byte(state)) == 1
		}
		// The flow is single-use, whatever the outcome.
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	}
	if !found {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "this sign-in answer does not match a sign-in started in this browser (it expired, was started elsewhere or was altered); start the connection again from your MCP client")
		return
	}
	// RFC 9207: a provider that names itself must be the configured one.
	if iss := q.Get("iss"); iss != "" && iss != o.IssuerURL {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "this sign-in answer comes from another issuer than "+o.DisplayName+"; start the connection again from your MCP client")
		return
	}
	if e := q.Get("error"); e != "" {
		msg := o.DisplayName + " did not sign you in: " + clip(e, 64)
		if d := q.Get("error_description"); d != "" {
			msg += " (" + clip(d, 256) + ")"
		}
		errorPage(w, http.StatusForbidden, oautherr.AccessDenied, msg)
		return
	}
	code := q.Get("code")
	if code == "" {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, o.DisplayName+" sent no authorization code")
		return
	}
	s, problem := f.oidcSession(r.Context(), code, &flow)
	if problem != nil {
		o.log().Warn("OpenID Connect sign-in failed", "issuer", o.IssuerURL, "error", problem.err)
		errorPage(w, problem.status, problem.code, problem.message)
		return
	}
	s.Nonce = newNonce()
	if err := writeSession(w, f.Keys.Keys(), s, f.Now(), f.SessionTTL); err != nil {
		errorPage(w, http.StatusInternalServerError, oautherr.ServerError, "the session could not be signed")
		return
	}
	if next, ok := returnPath(flow.Next); ok && flow.Request == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/ui/consent?"+url.Values{"req": {flow.Request}}.Encode(), http.StatusSeeOther)
}

// signInProblem is a failed upstream sign-in: what the page says and what
// the log says.
type signInProblem struct {
	status        int
	code, message string
	err           error
}

// oidcSession redeems the code and turns the verified ID token into a
// session.
func (f *Flow) oidcSession(ctx context.Context, code string, flow *oidcFlow) (*Session, *signInProblem) {
	o := f.OIDC
	unavailable := func(err error) *signInProblem {
		return &signInProblem{http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, o.DisplayName + " cannot be reached; retry shortly", err}
	}
	refused := func(message string, err error) *signInProblem {
		return &signInProblem{http.StatusBadGateway, oautherr.ServerError, message + "; start the connection again from your MCP client", err}
	}
	denied := func(message string) *signInProblem {
		return &signInProblem{http.StatusForbidden, oautherr.AccessDenied, message, errors.New(message)}
	}
	p, err := o.Provider(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	secret, err := o.ClientSecret(ctx)
	if err != nil {
		return nil, &signInProblem{http.StatusInternalServerError, oautherr.ServerError, "sign-in with " + o.DisplayName + " is misconfigured (client secret)", err}
	}
	xctx, cancel := context.WithTimeout(o.clientContext(ctx), o.timeout())
	defer cancel()
	tok, err := o.oauth2Config(p, secret).Exchange(xctx, code, oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		return nil, refused(o.DisplayName+" did not accept the sign-in (the code exchange failed)", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, refused(o.DisplayName+" sent no ID token", errors.New("the token response has no id_token"))
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: o.ClientID, Now: f.Now}).Verify(xctx, raw)
	if err != nil {
		return nil, refused("the ID token from "+o.DisplayName+" is invalid", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce)) != 1 {
		return nil, refused("the ID token from "+o.DisplayName+" was not issued for this sign-in", errors.New("the ID token's nonce does not match"))
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return nil, refused("the ID token from "+o.DisplayName+" is invalid", err)
	}
	var email string
	_ = json.Unmarshal(claims["email"], &email)
	email = strings.ToLower(strings.TrimSpace(email))
	switch {
	case idt.Subject == "" || len(idt.Subject) > 255:
		return nil, refused("the ID token from "+o.DisplayName+" has no valid subject", errors.New("sub is empty or longer than 255 characters"))
	case email == "":
		return nil, denied(o.DisplayName + " did not share your email address, which this sign-in needs")
	case len(email) > 254 || !strings.Contains(email, "@"):
		return nil, denied(o.DisplayName + " sent an invalid email address")
	case !emailVerified(claims["email_verified"]):
		return nil, denied(o.DisplayName + " has not verified your email address " + email + "; verify it there and try again")
	}
	groups, err := stringList(claims[o.GroupsClaim], o.GroupsClaim)
	if err != nil {
		return nil, refused("the ID token from "+o.DisplayName+" is invalid", err)
	}
	if n := len(strings.Join(groups, ",")); n > 2048 {
		return nil, denied(fmt.Sprintf("%s sent more groups than a session can hold (%d); ask your administrator for a narrower groups claim", o.DisplayName, len(groups)))
	}
	return &Session{Subject: o.IssuerURL + "#" + idt.Subject, Email: email, Groups: groups}, nil
}

// emailVerified is true unless email_verified is present and not true (some
// providers send the string "true").
func emailVerified(raw json.RawMessage) bool {
	if raw == nil {
		return true
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && strings.EqualFold(s, "true")
}

// stringList decodes a groups claim: a list of strings or one string.
func stringList(raw json.RawMessage, name string) ([]string, error) {
	if name == "" || raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	return nil, fmt.Errorf("the claim %s is not a list of strings", name)
}

// clip shortens a provider-supplied string for a page.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

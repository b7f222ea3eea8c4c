package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
	"github.com/10xdotin/mcp-handle-operator/runtime/ratelimit"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
)

// Handles reads handles.
type Handles interface {
	Handle(ctx context.Context, name string) (*mcpv1alpha1.Handle, error)
	List(ctx context.Context) ([]mcpv1alpha1.Handle, error)
	// ConnectorScopes returns the scopes a connector of the handle needs
	// (mcpv1alpha1.Handle.ConnectorScopes).
	ConnectorScopes(ctx context.Context, h *mcpv1alpha1.Handle) ([]mcpv1alpha1.Scope, error)
}

// Flow is the authorization endpoint with its sign-in and consent pages.
type Flow struct {
	Config     *platform.Config
	Clients    oauth.Clients
	Handles    Handles
	Users      Authenticator // nil when only OIDC is configured
	Grants     *grants.Store
	Registry   *registry.Registry
	Keys       oauth.Keys
	SessionTTL time.Duration
	Now        func() time.Time

	// OIDC signs in through an upstream provider; nil when not configured.
	OIDC *OIDC
	// SignInLimit bounds password sign-ins per client address; nil admits
	// all.
	SignInLimit *ratelimit.PerAddress
}

// requestTTL bounds how long a sealed authorization request may take to
// get through sign-in and consent.
const requestTTL = 15 * time.Minute

// Authorize serves GET /oauth/authorize.
func (f *Flow) Authorize(w http.ResponseWriter, r *http.Request) {
	req, client, err := oauth.ParseAuthorizeRequest(r.Context(), f.Config, f.Clients, r.URL.Query())
	var redirect *oauth.RedirectError
	var plain *oauth.Error
	switch {
	case errors.As(err, &redirect):
		http.Redirect(w, r, redirect.Location(f.Config.Issuer), http.StatusFound)
		return
	case errors.As(err, &plain):
		errorPage(w, plain.Status, plain.Code, plain.Description)
		return
	}
	sealed, serr := f.Keys.Keys().Seal("authorize", req, f.Now().Add(requestTTL))
	if serr != nil {
		errorPage(w, http.StatusInternalServerError, oautherr.ServerError, "the request could not be signed")
		return
	}
	if s := readSession(r, f.Keys.Keys(), f.Now()); s != nil {
		f.consentPage(w, r, s, req, client, sealed)
		return
	}
	http.Redirect(w, r, "/ui/login?"+url.Values{"req": {sealed}}.Encode(), http.StatusFound)
}

// LoginPage serves GET /ui/login: sign-in for an authorization request
// (req), or for one of the runtime's own pages (next).
func (f *Flow) LoginPage(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query(); q.Get("req") == "" && q.Has("next") {
		f.pageLoginForm(w, http.StatusOK, q.Get("next"), "", "")
		return
	}
	req, client, ok := f.openRequest(w, r, r.URL.Query().Get("req"))
	if !ok {
		return
	}
	f.loginForm(w, http.StatusOK, req, client, r.URL.Query().Get("req"), "", "")
}

func (f *Flow) loginForm(w http.ResponseWriter, status int, _ *oauth.AuthorizeRequest, client *mcpv1alpha1.OAuthClient, sealed, email, problem string) {
	data := map[string]any{"Title": "Sign in", "ClientName": client.Spec.ClientName, "Request": sealed, "Email": email, "Error": problem}
	f.signInMethods(w, data, url.Values{"req": {sealed}})
	render(w, status, "login.html", data)
}

// signInMethods adds the configured sign-in methods to a login page; resume
// is what the OpenID Connect start carries through the provider.
func (f *Flow) signInMethods(w http.ResponseWriter, data map[string]any, resume url.Values) {
	if f.Users != nil {
		nonce := newNonce()
		http.SetCookie(w, &http.Cookie{Name: "__Host-mcp_login", Value: nonce, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
		data["Password"], data["CSRF"] = true, csrfToken(f.Keys.Keys(), nonce, f.Now())
	}
	if f.OIDC != nil {
		data["OIDCName"], data["OIDCStart"] = f.OIDC.DisplayName, OIDCStartPath+"?"+resume.Encode()
	}
}

// Login serves POST /ui/login and resumes the authorization request.
func (f *Flow) Login(w http.ResponseWriter, r *http.Request) {
	if f.Users == nil {
		errorPage(w, http.StatusNotFound, oautherr.InvalidRequest, "password sign-in is not configured")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "the form could not be read")
		return
	}
	// The form that failed is shown again; resume is where a successful
	// sign-in continues.
	var form func(status int, email, problem string)
	var resume string
	if sealed := r.PostForm.Get("req"); sealed == "" && r.PostForm.Has("next") {
		next, ok := returnPath(r.PostForm.Get("next"))
		if !ok {
			errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "there is no page to return to after signing in")
			return
		}
		form = func(status int, email, problem string) { f.pageLoginForm(w, status, next, email, problem) }
		resume = next
	} else {
		req, client, ok := f.openRequest(w, r, sealed)
		if !ok {
			return
		}
		form = func(status int, email, problem string) { f.loginForm(w, status, req, client, sealed, email, problem) }
		resume = "/ui/consent?" + url.Values{"req": {sealed}}.Encode()
	}
	nonce := ""
	if c, err := r.Cookie("__Host-mcp_login"); err == nil {
		nonce = c.Value
	}
	if !validCSRF(f.Keys.Keys(), r.PostForm.Get("csrf"), nonce, f.Now()) {
		errorPage(w, http.StatusForbidden, oautherr.InvalidRequest, "the sign-in form expired or was not sent from this site; start the connection again")
		return
	}
	email := r.PostForm.Get("email")
	// Counted before the password hash is compared, which is the cost.
	if ok, wait := f.SignInLimit.Allow(r); !ok {
		w.Header().Set("Retry-After", ratelimit.Seconds(wait))
		form(http.StatusTooManyRequests, email, "Too many sign-in attempts from your address: try again in "+ratelimit.Seconds(wait)+" seconds.")
		return
	}
	s, err := f.Users.Authenticate(r.Context(), email, r.PostForm.Get("password"))
	if err != nil {
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "sign-in is unavailable; retry shortly")
		return
	}
	if s == nil {
		form(http.StatusUnauthorized, email, "The email or password is wrong.")
		return
	}
	s.Nonce = newNonce()
	if err := writeSession(w, f.Keys.Keys(), s, f.Now(), f.SessionTTL); err != nil {
		errorPage(w, http.StatusInternalServerError, oautherr.ServerError, "the session could not be signed")
		return
	}
	http.Redirect(w, r, resume, http.StatusSeeOther)
}

// ConsentPage serves GET /ui/consent.
func (f *Flow) ConsentPage(w http.ResponseWriter, r *http.Request) {
	sealed := r.URL.Query().Get("req")
	req, client, ok := f.openRequest(w, r, sealed)
	if !ok {
		return
	}
	s := readSession(r, f.Keys.Keys(), f.Now())
	if s == nil {
		http.Redirect(w, r, "/ui/login?"+url.Values{"req": {sealed}}.Encode(), http.StatusFound)
		return
	}
	f.consentPage(w, r, s, req, client, sealed)
}

// consentPage shows the client, the handle (or the handles to choose from)
// and each scope in plain words, as a checkbox the user may clear; scopes
// asked for that the user may not approve are listed as left out. A user
// who may approve nothing sees why and can only deny.
func (f *Flow) consentPage(w http.ResponseWriter, r *http.Request, s *Session, req *oauth.AuthorizeRequest, client *mcpv1alpha1.OAuthClient, sealed string) {
	data := map[string]any{
		"Title": "Connect " + client.Spec.ClientName, "ClientName": client.Spec.ClientName, "Email": s.Email,
		"Resource": req.Resource, "RedirectURI": req.RedirectURI, "RedirectHost": redirectHost(req.RedirectURI), "Handle": req.Handle,
		"Request": sealed, "CSRF": csrfToken(f.Keys.Keys(), s.Nonce, f.Now()),
	}
	var a approval
	if req.Kind == platform.ResourceGateway {
		handles, union, err := f.memberHandles(r.Context(), s, req, client)
		if err != nil {
			errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "your handles could not be read; retry shortly")
			return
		}
		data["Handles"], a = handles, union
		if len(handles) == 0 {
			a.refusal = "None of your handles lets you approve this connector."
		}
	} else {
		var err error
		if a, err = f.approvable(r.Context(), s, req.Handle, req, client); err != nil {
			errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the handle could not be read; retry shortly")
			return
		}
	}
	data["Refused"], data["Scopes"], data["LeftOut"] = a.refusal, describe(a.scopes), describe(leftOut(a.requested, a.scopes))
	render(w, http.StatusOK, "consent.html", data, origin(req.RedirectURI))
}

// Consent serves POST /ui/consent: approve records the grant and sends the
// code; deny sends access_denied.
func (f *Flow) Consent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "the form could not be read")
		return
	}
	req, client, ok := f.openRequest(w, r, r.PostForm.Get("req"))
	if !ok {
		return
	}
	s := readSession(r, f.Keys.Keys(), f.Now())
	if s == nil || !validCSRF(f.Keys.Keys(), r.PostForm.Get("csrf"), s.Nonce, f.Now()) {
		errorPage(w, http.StatusForbidden, oautherr.InvalidRequest, "the consent form expired or was not sent from this site; start the connection again")
		return
	}
	secureHeaders(w, origin(req.RedirectURI))
	if r.PostForm.Get("decision") != "approve" {
		deny := &oauth.RedirectError{Err: oauth.Errorf(http.StatusFound, oautherr.AccessDenied, "the user denied the request"), RedirectURI: req.RedirectURI, State: req.State}
		http.Redirect(w, r, deny.Location(f.Config.Issuer), http.StatusSeeOther)
		return
	}
	handle := req.Handle
	if req.Kind == platform.ResourceGateway {
		handle = r.PostForm.Get("handle")
		if handle == "" {
			errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "choose the handle this connector may use")
			return
		}
	}
	a, err := f.approvable(r.Context(), s, handle, req, client)
	if err != nil {
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the handle could not be read; retry shortly")
		return
	}
	if a.refusal != "" {
		errorPage(w, http.StatusForbidden, oautherr.AccessDenied, a.refusal)
		return
	}
	approved := chosen(a.scopes, r.PostForm)
	// A dynamically registered client is bound by its first approval.
	res := platform.Resource{Kind: req.Kind, Handle: handle, URL: req.Resource}
	if err := f.Registry.Bind(r.Context(), client.Name, res); err != nil {
		if code := registry.RefusalCode(err); code != "" {
			target := &oauth.RedirectError{Err: oauth.Errorf(http.StatusFound, code, err.Error()), RedirectURI: req.RedirectURI, State: req.State}
			http.Redirect(w, r, target.Location(f.Config.Issuer), http.StatusSeeOther)
			return
		}
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the approval could not be recorded; retry shortly")
		return
	}
	code, err := f.Grants.Create(r.Context(), grants.Request{
		ID: r.PostForm.Get("req"), Client: client, Handle: handle, Subject: s.Subject, Email: s.Email, Resource: req.Resource,
		Scopes: approved, CodeChallenge: req.CodeChallenge, RedirectURI: req.RedirectURI,
	})
	if errors.Is(err, grants.ErrAlreadyApproved) {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, err.Error())
		return
	}
	if err != nil {
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the approval could not be recorded; retry shortly")
		return
	}
	http.Redirect(w, r, oauth.CodeLocation(req, code, f.Config.Issuer), http.StatusSeeOther)
}

// openRequest unseals an authorization request and re-reads its client,
// which may have changed (or gone) since.
func (f *Flow) openRequest(w http.ResponseWriter, r *http.Request, sealed string) (*oauth.AuthorizeRequest, *mcpv1alpha1.OAuthClient, bool) {
	var req oauth.AuthorizeRequest
	if f.Keys.Keys().Open("authorize", sealed, &req, f.Now()) != nil {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "this authorization request expired or was altered; start the connection again from your MCP client")
		return nil, nil, false
	}
	client, err := f.Clients.Client(r.Context(), req.ClientID)
	if err != nil || client == nil || !oauth.RedirectURIRegistered(client.Spec.RedirectURIs, req.RedirectURI) {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidClient, "the client is no longer registered with this redirect URI")
		return nil, nil, false
	}
	return &req, client, true
}

// describe pairs scopes with their plain-words descriptions.
func describe(scopes []mcpv1alpha1.Scope) []mcpv1alpha1.ScopeDefinition {
	out := make([]mcpv1alpha1.ScopeDefinition, 0, len(scopes))
	for _, s := range scopes {
		if d, ok := mcpv1alpha1.LookupScope(string(s)); ok {
			out = append(out, d)
		}
	}
	return out
}

// redirectHost is the host a redirect URI sends the browser to, as the
// consent page names it: the one place a person can check where the code
// goes. A private-use URI goes to whichever app claims its scheme, so the
// page names the scheme (and the host, which the app reads).
func redirectHost(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return raw
	case u.Scheme != "https" && u.Scheme != "http" && u.Host != "":
		return "the app that opens " + u.Scheme + ": links (" + u.Host + ")"
	case u.Scheme != "https" && u.Scheme != "http":
		return "the app that opens " + u.Scheme + ": links"
	}
	return u.Host
}

// origin returns the form-action source that lets the consent form redirect
// to the client: scheme://host, or for a private-use URI the scheme-source
// "cursor:", since browsers give such a URL no host that a host-source
// could match (CSP3 section 6.7.2.8).
func origin(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return ""
	case u.Scheme != "https" && u.Scheme != "http":
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}

package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/ratelimit"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// Keys returns the signing keys in force (they rotate).
type Keys interface {
	Keys() *tokens.KeySet
}

// TokenEndpoint serves POST /oauth/token: authorization_code and
// refresh_token grants.
type TokenEndpoint struct {
	Config    *platform.Config
	Clients   Clients
	Secrets   ClientSecrets
	Grants    *grants.Store
	Keys      Keys
	AccessTTL time.Duration
	Now       func() time.Time
	// Authorized, when set, is told of every grant whose code was just
	// exchanged: the bootstrap flow's smoke check starts there.
	Authorized func(ctx context.Context, conn *mcpv1alpha1.Connection)
	// Limit bounds requests per client address; nil admits all.
	Limit *ratelimit.PerAddress
}

// TokenResponse is the RFC 6749 section 5.1 response.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

func (t *TokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !Limited(w, r, t.Limit, "token requests") {
		return
	}
	client, ok := clientRequest(w, r, t.Clients, t.Secrets)
	if !ok {
		return
	}
	var (
		conn    *mcpv1alpha1.Connection
		refresh string
		scopes  []mcpv1alpha1.Scope
		err     error
	)
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		conn, refresh, err = t.Grants.ExchangeCode(r.Context(), r.PostForm.Get("code"), client.ClientID(),
			r.PostForm.Get("redirect_uri"), r.PostForm.Get("code_verifier"))
		if err == nil {
			scopes = conn.Spec.Scopes
		}
	case "refresh_token":
		conn, refresh, err = t.Grants.Refresh(r.Context(), r.PostForm.Get("refresh_token"), client.ClientID())
		if err == nil {
			var serr *Error
			if scopes, serr = refreshScopes(conn, r.PostForm.Get("scope")); serr != nil {
				serr.Write(w)
				return
			}
		}
	default:
		Errorf(http.StatusBadRequest, oautherr.UnsupportedGrantType, "grant_type must be authorization_code or refresh_token").Write(w)
		return
	}
	if err != nil {
		grantError(err).Write(w)
		return
	}
	if res := r.PostForm.Get("resource"); res != "" && res != conn.Spec.Resource {
		Errorf(http.StatusBadRequest, oautherr.InvalidTarget, "resource "+quote(res)+" is not the resource this grant was approved for").Write(w)
		return
	}
	set, _ := tokens.NewScopeSet(scopes...)
	expiry := t.Now().Add(t.AccessTTL).Truncate(time.Second)
	access, err := t.Keys.Keys().MintAccess(tokens.Access{
		Handle: conn.Spec.Handle, Subject: conn.Spec.Subject, ClientID: conn.Spec.ClientID, Grant: conn.Name,
		Scopes: set, Expiry: expiry,
	})
	if err != nil {
		Errorf(http.StatusInternalServerError, oautherr.ServerError, "the access token could not be signed").Write(w)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, TokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(t.AccessTTL / time.Second),
		RefreshToken: refresh, Scope: scopeString(scopes),
	}, "no-store")
	if t.Authorized != nil && r.PostForm.Get("grant_type") == "authorization_code" {
		t.Authorized(r.Context(), conn)
	}
}

// refreshScopes narrows a refresh to the requested scopes; without a scope
// parameter the new access token has every scope of the grant (RFC 6749
// section 6: an omitted scope is the scope originally granted), so a
// client keeps its tools across refreshes.
func refreshScopes(conn *mcpv1alpha1.Connection, param string) ([]mcpv1alpha1.Scope, *Error) {
	granted := conn.Spec.Scopes
	if strings.TrimSpace(param) == "" {
		return granted, nil
	}
	var out []mcpv1alpha1.Scope
	for _, s := range strings.Fields(param) {
		if !slices.Contains(granted, mcpv1alpha1.Scope(s)) {
			return nil, Errorf(http.StatusBadRequest, oautherr.InvalidScope, "scope "+quote(s)+" was not granted: re-authorize to add it")
		}
		out = append(out, mcpv1alpha1.Scope(s))
	}
	return out, nil
}

// grantError maps a grant store error to the token endpoint's answer.
func grantError(err error) *Error {
	for _, known := range []error{grants.ErrNotFound, grants.ErrInvalidCode, grants.ErrCodeReused, grants.ErrPKCE,
		grants.ErrRedirectURI, grants.ErrRefreshReused, grants.ErrWrongClient, grants.ErrStepUp} {
		if errors.Is(err, known) {
			return Errorf(http.StatusBadRequest, oautherr.InvalidGrant, err.Error())
		}
	}
	return Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the grant could not be read or written; retry shortly")
}

func scopeString(scopes []mcpv1alpha1.Scope) string {
	return strings.Join(scopeStrings(scopes), " ")
}

package oauth

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// RevokeEndpoint serves POST /oauth/revoke (RFC 7009): revoking a refresh or
// access token revokes its whole grant.
type RevokeEndpoint struct {
	Clients Clients
	Secrets ClientSecrets
	Grants  *grants.Store
	Keys    Keys
}

func (e *RevokeEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client, ok := clientRequest(w, r, e.Clients, e.Secrets)
	if !ok {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		Errorf(http.StatusBadRequest, oautherr.InvalidRequest, "token is required").Write(w)
		return
	}
	grant, clientID := e.grantOf(token)
	// Unknown tokens and tokens of other clients get the same answer as
	// revoked ones (RFC 7009 section 2.2); the store checks the grant's
	// client.
	if grant != "" && (clientID == "" || clientID == client.ClientID()) {
		if err := e.Grants.RevokeFor(r.Context(), grant, client.ClientID()); err != nil {
			Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the grant could not be revoked; retry shortly").Write(w)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// grantOf returns the grant a token belongs to and, for access tokens, the
// client it was issued to.
func (e *RevokeEndpoint) grantOf(token string) (grant, clientID string) {
	if strings.HasPrefix(token, tokens.AccessPrefix) {
		// An expired token still names its grant, which may be revoked.
		a, err := e.Keys.Keys().VerifyAccess(token, time.Now())
		if err != nil && !errors.Is(err, tokens.ErrExpired) {
			return "", ""
		}
		return a.Grant, a.ClientID
	}
	if g, ok := tokens.ParseOpaque(tokens.RefreshPrefix, token); ok {
		return g, ""
	}
	return "", ""
}

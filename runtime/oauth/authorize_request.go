package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// Clients reads registered clients (an informer cache in production).
type Clients interface {
	// Client returns the client with the client_id, or nil when there is none.
	Client(ctx context.Context, clientID string) (*mcpv1alpha1.OAuthClient, error)
}

// AuthorizeRequest is a validated authorization request. It travels sealed
// through sign-in and consent, so nothing in it can be changed on the way.
type AuthorizeRequest struct {
	ClientID      string `json:"client_id"`
	RedirectURI   string `json:"redirect_uri"`
	State         string `json:"state,omitempty"`
	CodeChallenge string `json:"code_challenge"`
	Resource      string `json:"resource"`
	Handle        string `json:"handle,omitempty"`
	// Scopes are the scopes asked for; nil asks for what the handle's
	// connectors need (consent narrows either to what the user may approve).
	Scopes []mcpv1alpha1.Scope   `json:"scope"`
	Kind   platform.ResourceKind `json:"kind"`
}

// RedirectError is an error the client may receive on its redirect URI.
type RedirectError struct {
	Err         *Error
	RedirectURI string
	State       string
}

func (e *RedirectError) Error() string { return e.Err.Error() }

// ParseAuthorizeRequest validates an authorization request. A request whose
// client or redirect URI cannot be trusted returns an *Error (to show as a
// page, never a redirect); any other problem returns a *RedirectError.
func ParseAuthorizeRequest(ctx context.Context, cfg *platform.Config, clients Clients, q url.Values) (*AuthorizeRequest, *mcpv1alpha1.OAuthClient, error) {
	for _, p := range []string{"client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method", "scope", "resource"} {
		if len(q[p]) > 1 {
			return nil, nil, Errorf(http.StatusBadRequest, oautherr.InvalidRequest, "parameter "+p+" is repeated")
		}
	}
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	client, err := clients.Client(ctx, clientID)
	var docErr *MetadataDocumentError
	if errors.As(err, &docErr) {
		return nil, nil, Errorf(http.StatusBadRequest, oautherr.InvalidClient, "unknown client_id: "+docErr.Error())
	}
	if err != nil {
		return nil, nil, Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the client registry could not be read; retry shortly")
	}
	if clientID == "" || client == nil {
		return nil, nil, Errorf(http.StatusBadRequest, oautherr.InvalidClient, "unknown client_id "+quote(clientID)+": register the client first")
	}
	if !RedirectURIRegistered(client.Spec.RedirectURIs, redirectURI) {
		return nil, nil, Errorf(http.StatusBadRequest, oautherr.InvalidRequest,
			"redirect_uri "+quote(redirectURI)+" is not registered for this client: register the connector's exact callback URL")
	}
	fail := func(code, description string) (*AuthorizeRequest, *mcpv1alpha1.OAuthClient, error) {
		return nil, nil, &RedirectError{Err: Errorf(http.StatusFound, code, description), RedirectURI: redirectURI, State: q.Get("state")}
	}
	if q.Get("response_type") != "code" {
		return fail(oautherr.UnsupportedResponseType, "response_type must be code")
	}
	switch {
	case q.Get("code_challenge") == "":
		return fail(oautherr.InvalidRequest, "code_challenge is required (PKCE with S256)")
	case q.Get("code_challenge_method") != "S256":
		return fail(oautherr.InvalidRequest, "code_challenge_method must be S256")
	case len(q.Get("code_challenge")) != 43:
		return fail(oautherr.InvalidRequest, "code_challenge must be a base64url SHA-256 (43 characters)")
	}
	req := &AuthorizeRequest{ClientID: clientID, RedirectURI: redirectURI, State: q.Get("state"), CodeChallenge: q.Get("code_challenge")}

	bound := client.Spec.Gateway || client.Spec.Handle != ""
	indicator := q.Get("resource")
	if indicator == "" && bound {
		indicator = defaultResource(cfg, client)
	}
	res, ok := cfg.ResourceOf(indicator)
	if !ok {
		return fail(oautherr.InvalidTarget, "resource "+quote(indicator)+" is not a registered MCP resource of this authorization server")
	}
	if bound && (client.Spec.Gateway != (res.Kind == platform.ResourceGateway) || !client.Spec.Gateway && res.Handle != client.Spec.Handle) {
		return fail(oautherr.InvalidTarget, "resource "+quote(indicator)+" is not the resource this client is registered for")
	}
	req.Resource, req.Handle, req.Kind = res.URL, res.Handle, res.Kind

	scopes, err := requestedScopes(client, q.Get("scope"))
	if err != nil {
		return fail(oautherr.InvalidScope, err.Error())
	}
	req.Scopes = scopes
	return req, client, nil
}

// defaultResource is the resource of a bound client that sends no resource
// indicator: its handle's hosted URL, or the shared gateway URL. An unbound
// dynamic client must send one.
func defaultResource(cfg *platform.Config, c *mcpv1alpha1.OAuthClient) string {
	if c.Spec.Gateway {
		return cfg.SharedGatewayURL()
	}
	return cfg.HostedURL(c.Spec.Handle)
}

// requestedScopes parses a scope parameter; an empty one means the client's
// default scopes, or when it has none (ChatGPT registers and authorizes
// without scope) nil: consent then offers the handle's connector scopes.
func requestedScopes(c *mcpv1alpha1.OAuthClient, param string) ([]mcpv1alpha1.Scope, error) {
	if strings.TrimSpace(param) == "" {
		return c.Spec.DefaultScopes, nil
	}
	var out []mcpv1alpha1.Scope
	for _, s := range strings.Fields(param) {
		if _, ok := mcpv1alpha1.LookupScope(s); !ok {
			return nil, &Error{Code: oautherr.InvalidScope, Description: "unknown scope " + quote(s)}
		}
		sc := mcpv1alpha1.Scope(s)
		if len(c.Spec.AllowedScopes) > 0 && !slices.Contains(c.Spec.AllowedScopes, sc) {
			return nil, &Error{Code: oautherr.InvalidScope, Description: "scope " + s + " is not allowed for this client"}
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return `"` + s + `"`
}

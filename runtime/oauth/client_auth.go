package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
)

// ClientSecrets reads the secret of a confidential client.
type ClientSecrets interface {
	// ClientSecret returns the client's secret, or "" when it has none yet.
	ClientSecret(ctx context.Context, c *mcpv1alpha1.OAuthClient) (string, error)
}

// clientRequest reads a bounded form body and authenticates its client,
// answering the request itself when either fails.
func clientRequest(w http.ResponseWriter, r *http.Request, clients Clients, secrets ClientSecrets) (*mcpv1alpha1.OAuthClient, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		Errorf(http.StatusBadRequest, oautherr.InvalidRequest, "the body must be application/x-www-form-urlencoded").Write(w)
		return nil, false
	}
	c, err := authenticateClient(r, clients, secrets)
	if err != nil {
		if err.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
		}
		err.Write(w)
		return nil, false
	}
	return c, true
}

// authenticateClient identifies the client of a token or revocation request
// by the method it registered: client_secret_basic, client_secret_post, or
// none (a public client names itself with client_id).
func authenticateClient(r *http.Request, clients Clients, secrets ClientSecrets) (*mcpv1alpha1.OAuthClient, *Error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, invalidClient(true, "malformed client credentials")
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		return nil, invalidClient(basic, "client authentication is required: send client_id")
	}
	c, err := clients.Client(r.Context(), id)
	var docErr *MetadataDocumentError
	if errors.As(err, &docErr) {
		return nil, invalidClient(basic, "unknown client: "+docErr.Error())
	}
	if err != nil {
		return nil, Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the client registry could not be read; retry shortly")
	}
	if c == nil {
		return nil, invalidClient(basic, "unknown client")
	}
	method := c.Spec.TokenEndpointAuthMethod
	if method == "" {
		method = mcpv1alpha1.TokenEndpointAuthNone
	}
	switch {
	case method == mcpv1alpha1.TokenEndpointAuthNone && !basic && secret == "":
		return c, nil
	case method == mcpv1alpha1.TokenEndpointAuthClientSecretBasic && basic,
		method == mcpv1alpha1.TokenEndpointAuthClientSecretPost && !basic && secret != "":
		want, err := secrets.ClientSecret(r.Context(), c)
		if err != nil {
			return nil, Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the client secret could not be read; retry shortly")
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
			return nil, invalidClient(basic, "client authentication failed")
		}
		return c, nil
	default:
		return nil, invalidClient(basic, "the client must authenticate with its registered method, "+string(method))
	}
}

func invalidClient(basic bool, description string) *Error {
	e := Errorf(http.StatusUnauthorized, oautherr.InvalidClient, description)
	if !basic {
		e.Status = http.StatusBadRequest
	}
	return e
}

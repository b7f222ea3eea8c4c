package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ClientMetadata is the RFC 7591 client metadata this tool sends.
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	// Resource is this server's extension: it binds the client to one MCP
	// resource at registration rather than at its first authorization.
	// Servers without it ignore it (RFC 7591 section 2).
	Resource string `json:"resource,omitempty"`
}

// ClientRegistration is a registered client as RFC 7591 section 3.2.1 and
// RFC 7592 section 3 return it.
type ClientRegistration struct {
	ClientMetadata
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
}

// ClientURI returns the RFC 7592 client configuration endpoint this
// project's runtime serves, {registration_endpoint}/{client_id}. A
// registration response's registration_client_uri is authoritative; this
// is for repairing a client whose URI was not kept.
func ClientURI(registrationEndpoint, clientID string) string {
	return strings.TrimSuffix(registrationEndpoint, "/") + "/" + url.PathEscape(clientID)
}

// Register performs RFC 7591 dynamic registration. Error responses are
// *StatusError with the RFC 7591 error code (invalid_redirect_uri,
// invalid_client_metadata) in OAuthError.
func (c *Client) Register(ctx context.Context, registrationEndpoint string, md ClientMetadata) (*ClientRegistration, error) {
	if _, err := absoluteHTTPS(registrationEndpoint); err != nil {
		return nil, &MetadataError{Step: StepRegister, URL: registrationEndpoint, Field: "registration_endpoint", Reason: err.Error()}
	}
	reg, err := c.sendClient(ctx, StepRegister, http.MethodPost, registrationEndpoint, "", md, http.StatusCreated)
	if err != nil {
		return reg, err
	}
	if reg.RegistrationAccessToken != "" && reg.RegistrationClientURI == "" {
		return reg, &MetadataError{Step: StepRegister, URL: registrationEndpoint, Field: "registration_client_uri",
			Reason: "missing although a registration access token was issued (RFC 7592 section 3)"}
	}
	return reg, nil
}

// ReadClient reads a client's registration with its registration access
// token (RFC 7592 section 2.1). An unknown client or a wrong token is a
// *StatusError 401 invalid_token.
func (c *Client) ReadClient(ctx context.Context, clientURI, token string) (*ClientRegistration, error) {
	return c.sendClient(ctx, StepReadClient, http.MethodGet, clientURI, token, nil, http.StatusOK)
}

// UpdateClient replaces a client's metadata (RFC 7592 section 2.2). The
// request carries client_id and every metadata field, never the
// registration access token, its URI or the timestamps.
func (c *Client) UpdateClient(ctx context.Context, clientURI, token, clientID string, md ClientMetadata) (*ClientRegistration, error) {
	body := struct {
		ClientMetadata
		ClientID string `json:"client_id"`
	}{md, clientID}
	return c.sendClient(ctx, StepUpdateClient, http.MethodPut, clientURI, token, body, http.StatusOK)
}

func (c *Client) sendClient(ctx context.Context, step Step, method, rawURL, token string, body any, want int) (*ClientRegistration, error) {
	var reader *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &RequestError{Step: step, URL: rawURL, Kind: FailureOther, Err: err}
		}
		reader = bytes.NewReader(b)
	}
	var req *http.Request
	var err error
	if reader != nil {
		req, err = http.NewRequestWithContext(ctx, method, rawURL, reader)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, rawURL, nil)
	}
	if err != nil {
		return nil, &RequestError{Step: step, URL: rawURL, Kind: FailureOther, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r, err := c.do(step, req)
	if err != nil {
		return nil, err
	}
	if r.StatusCode != want {
		return nil, statusError(step, rawURL, r)
	}
	reg := &ClientRegistration{}
	if err := decodeJSON(step, rawURL, r.body, reg); err != nil {
		return nil, err
	}
	if reg.ClientID == "" {
		return reg, &MetadataError{Step: step, URL: rawURL, Field: "client_id", Reason: "missing"}
	}
	return reg, nil
}

// MissingRedirectURIs returns the wanted redirect URIs a registration does
// not list, compared byte for byte as authorization servers compare them.
func MissingRedirectURIs(reg *ClientRegistration, want []string) []string {
	var missing []string
	for _, u := range want {
		if !slices.Contains(reg.RedirectURIs, u) {
			missing = append(missing, u)
		}
	}
	return missing
}

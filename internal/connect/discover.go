package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Well-known paths.
const (
	// ProtectedResourceWellKnown is the RFC 9728 prefix.
	ProtectedResourceWellKnown = "/.well-known/oauth-protected-resource"
	// AuthorizationServerWellKnown is the RFC 8414 prefix.
	AuthorizationServerWellKnown = "/.well-known/oauth-authorization-server"
)

// ProtocolVersion is the MCP version of the probe's initialize request.
const ProtocolVersion = "2025-11-25"

// ChallengeError is a 401 (or 403) whose WWW-Authenticate header is missing,
// malformed, or has no usable Bearer challenge.
type ChallengeError struct {
	URL    string
	Status int
	// Header holds the WWW-Authenticate values received.
	Header []string
	Reason string
	// Err is the parse error, if any (wraps ErrMalformedChallenge).
	Err error
}

func (e *ChallengeError) Error() string {
	msg := fmt.Sprintf("%s: %s answered %d with %s", StepProbe, e.URL, e.Status, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ChallengeError) Unwrap() error { return e.Err }

// MetadataError is a metadata document, or a registration response, that
// was received but is not valid: bad JSON, or a field that breaks its RFC.
type MetadataError struct {
	Step Step
	URL  string
	// Field is the JSON member at fault, "" for the document as a whole.
	Field  string
	Reason string
}

func (e *MetadataError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s: %s", e.Step, e.URL, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s: %s", e.Step, e.URL, e.Field, e.Reason)
}

// IssuerMismatchError says the protected-resource metadata advertises an
// authorization server other than the one expected: the guide's "legacy
// shared API host" case, where ChatGPT leaves the OAuth fields empty.
type IssuerMismatchError struct {
	ResourceURL         string
	ResourceMetadataURL string
	Expected            string
	Advertised          []string
}

func (e *IssuerMismatchError) Error() string {
	return fmt.Sprintf("%s: %s advertises authorization server %s for %s, expected %s",
		StepIssuerCheck, e.ResourceMetadataURL, strings.Join(e.Advertised, ", "), e.ResourceURL, e.Expected)
}

// ProbeResult is the answer to an unauthenticated MCP request.
type ProbeResult struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	// WWWAuthenticate holds the header values as received.
	WWWAuthenticate []string         `json:"www_authenticate,omitempty"`
	Challenges      []Challenge      `json:"-"`
	Bearer          *BearerChallenge `json:"bearer,omitempty"`
	// OAuthError and Description are the body's error fields, if any.
	OAuthError  string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
}

// Probe posts an MCP initialize request without a token to mcpURL, as a
// client does first, and expects 401 with a Bearer challenge. A result is
// returned whenever a response was received, with a *StatusError for
// another status or a *ChallengeError for a missing or unusable challenge.
func (c *Client) Probe(ctx context.Context, mcpURL string) (*ProbeResult, error) {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": ProtocolVersion, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": c.userAgent, "version": "1"}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mcpURL, bytes.NewReader(body))
	if err != nil {
		return nil, &RequestError{Step: StepProbe, URL: mcpURL, Kind: FailureOther, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	r, err := c.do(StepProbe, req)
	if err != nil {
		return nil, err
	}
	res := &ProbeResult{URL: mcpURL, Status: r.StatusCode, WWWAuthenticate: r.Header.Values("WWW-Authenticate")}
	res.OAuthError, res.Description = oauthError(r.body)
	if r.StatusCode != http.StatusUnauthorized {
		return res, statusError(StepProbe, mcpURL, r)
	}
	if len(res.WWWAuthenticate) == 0 {
		return res, &ChallengeError{URL: mcpURL, Status: r.StatusCode, Reason: "no WWW-Authenticate header"}
	}
	res.Challenges, err = ParseWWWAuthenticate(res.WWWAuthenticate)
	if err != nil {
		return res, &ChallengeError{URL: mcpURL, Status: r.StatusCode, Header: res.WWWAuthenticate, Reason: "a malformed WWW-Authenticate header", Err: err}
	}
	b, ok := Bearer(res.Challenges)
	if !ok {
		return res, &ChallengeError{URL: mcpURL, Status: r.StatusCode, Header: res.WWWAuthenticate, Reason: "no Bearer challenge"}
	}
	res.Bearer = b
	return res, nil
}

// ResourceMetadata is the RFC 9728 protected-resource metadata.
type ResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// ResourceMetadataURL returns the RFC 9728 section 3.1 well-known URL of a
// resource: the well-known prefix inserted between the host and the path
// ("https://h/mcp" -> "https://h/.well-known/oauth-protected-resource/mcp").
func ResourceMetadataURL(resourceURL string) (string, error) {
	u, err := absoluteHTTPS(resourceURL)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" {
		return "", fmt.Errorf("%s: a resource identifier has no query (RFC 9728 section 1.2)", resourceURL)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + ProtectedResourceWellKnown + path, nil
}

// FetchResourceMetadata fetches the document at metadataURL (the
// challenge's resource_metadata), or at the resource's well-known URL when
// metadataURL is "", and checks that its resource is exactly resourceURL
// (RFC 9728 section 3.3) and that it names https authorization servers.
func (c *Client) FetchResourceMetadata(ctx context.Context, resourceURL, metadataURL string) (*ResourceMetadata, error) {
	if metadataURL == "" {
		var err error
		if metadataURL, err = ResourceMetadataURL(resourceURL); err != nil {
			return nil, &MetadataError{Step: StepResourceMetadata, URL: resourceURL, Reason: err.Error()}
		}
	} else if _, err := absoluteHTTPS(metadataURL); err != nil {
		return nil, &MetadataError{Step: StepResourceMetadata, URL: metadataURL, Field: "resource_metadata", Reason: err.Error()}
	}
	md := &ResourceMetadata{}
	if err := c.getJSON(ctx, StepResourceMetadata, metadataURL, md); err != nil {
		return nil, err
	}
	bad := func(field, format string, args ...any) error {
		return &MetadataError{Step: StepResourceMetadata, URL: metadataURL, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if md.Resource != resourceURL {
		return md, bad("resource", "%q is not the requested resource %q (RFC 9728 section 3.3)", md.Resource, resourceURL)
	}
	if len(md.AuthorizationServers) == 0 {
		return md, bad("authorization_servers", "no authorization server is advertised")
	}
	for _, as := range md.AuthorizationServers {
		if _, err := absoluteHTTPS(as); err != nil {
			return md, bad("authorization_servers", "%v", err)
		}
	}
	return md, nil
}

// AuthServerMetadata is the RFC 8414 authorization-server metadata.
type AuthServerMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint,omitempty"`
	RegistrationEndpoint              string   `json:"registration_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	JWKSURI                           string   `json:"jwks_uri,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	ClientIDMetadataDocumentSupported bool     `json:"client_id_metadata_document_supported,omitempty"`
}

// AuthServerMetadataURL returns the RFC 8414 section 3.1 metadata URL of an
// issuer: the well-known prefix inserted between the host and the issuer's
// path ("https://h/tenant" -> "https://h/.well-known/oauth-authorization-server/tenant").
func AuthServerMetadataURL(issuer string) (string, error) {
	u, err := absoluteHTTPS(issuer)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s: an issuer has no query or fragment (RFC 8414 section 2)", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + AuthorizationServerWellKnown + path, nil
}

// FetchAuthServerMetadata fetches an issuer's RFC 8414 metadata and checks
// that its issuer is exactly the issuer it was fetched for (section 3.3),
// that it has authorization and token endpoints, and that it supports PKCE
// with S256 (OAuth 2.1; the MCP authorization spec).
func (c *Client) FetchAuthServerMetadata(ctx context.Context, issuer string) (*AuthServerMetadata, string, error) {
	metadataURL, err := AuthServerMetadataURL(issuer)
	if err != nil {
		return nil, "", &MetadataError{Step: StepAuthorizationServer, URL: issuer, Field: "issuer", Reason: err.Error()}
	}
	md := &AuthServerMetadata{}
	if err := c.getJSON(ctx, StepAuthorizationServer, metadataURL, md); err != nil {
		return nil, metadataURL, err
	}
	bad := func(field, format string, args ...any) error {
		return &MetadataError{Step: StepAuthorizationServer, URL: metadataURL, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case md.Issuer != issuer:
		return md, metadataURL, bad("issuer", "%q is not the issuer %q the document was fetched for (RFC 8414 section 3.3)", md.Issuer, issuer)
	case md.AuthorizationEndpoint == "":
		return md, metadataURL, bad("authorization_endpoint", "missing")
	case md.TokenEndpoint == "":
		return md, metadataURL, bad("token_endpoint", "missing")
	case !slices.Contains(md.CodeChallengeMethodsSupported, "S256"):
		return md, metadataURL, bad("code_challenge_methods_supported", "%q lacks S256: MCP clients refuse an authorization server without PKCE", md.CodeChallengeMethodsSupported)
	}
	return md, metadataURL, nil
}

// Discovery is what a client learns before it registers.
type Discovery struct {
	MCPURL string       `json:"mcp_url"`
	Probe  *ProbeResult `json:"probe,omitempty"`
	// ResourceMetadataURL is where the document was fetched;
	// ResourceMetadataFromChallenge says whether the challenge named it.
	ResourceMetadataURL           string            `json:"resource_metadata_url,omitempty"`
	ResourceMetadataFromChallenge bool              `json:"resource_metadata_from_challenge"`
	Resource                      *ResourceMetadata `json:"resource,omitempty"`
	// Issuer is the authorization server used: the expected one, or the
	// first advertised.
	Issuer                string              `json:"issuer,omitempty"`
	AuthServerMetadataURL string              `json:"authorization_server_metadata_url,omitempty"`
	AuthServer            *AuthServerMetadata `json:"authorization_server,omitempty"`
}

// DiscoverOptions tune Discover.
type DiscoverOptions struct {
	// ExpectedIssuer, when set, must be the only authorization server the
	// resource advertises; otherwise Discover stops with an
	// *IssuerMismatchError before contacting any advertised server.
	ExpectedIssuer string
}

// Discover runs the probe, the protected-resource metadata and the
// authorization-server metadata steps. It returns what it learned so far
// along with the first error.
func (c *Client) Discover(ctx context.Context, mcpURL string, o DiscoverOptions) (*Discovery, error) {
	d := &Discovery{MCPURL: mcpURL}
	probe, err := c.Probe(ctx, mcpURL)
	d.Probe = probe
	if err != nil {
		return d, err
	}
	if probe.Bearer.ResourceMetadata != "" {
		d.ResourceMetadataURL, d.ResourceMetadataFromChallenge = probe.Bearer.ResourceMetadata, true
	} else if d.ResourceMetadataURL, err = ResourceMetadataURL(mcpURL); err != nil {
		return d, &MetadataError{Step: StepResourceMetadata, URL: mcpURL, Reason: err.Error()}
	}
	d.Resource, err = c.FetchResourceMetadata(ctx, mcpURL, d.ResourceMetadataURL)
	if err != nil {
		return d, err
	}
	d.Issuer = d.Resource.AuthorizationServers[0]
	if o.ExpectedIssuer != "" {
		for _, as := range d.Resource.AuthorizationServers {
			if as != o.ExpectedIssuer {
				return d, &IssuerMismatchError{ResourceURL: mcpURL, ResourceMetadataURL: d.ResourceMetadataURL,
					Expected: o.ExpectedIssuer, Advertised: d.Resource.AuthorizationServers}
			}
		}
	}
	d.AuthServer, d.AuthServerMetadataURL, err = c.FetchAuthServerMetadata(ctx, d.Issuer)
	if err != nil {
		return d, err
	}
	return d, nil
}

// getJSON fetches a JSON document that must answer 200.
func (c *Client) getJSON(ctx context.Context, step Step, rawURL string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return &RequestError{Step: step, URL: rawURL, Kind: FailureOther, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	r, err := c.do(step, req)
	if err != nil {
		return err
	}
	if r.StatusCode != http.StatusOK {
		return statusError(step, rawURL, r)
	}
	return decodeJSON(step, rawURL, r.body, into)
}

func decodeJSON(step Step, rawURL string, body []byte, into any) error {
	if err := json.Unmarshal(body, into); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return &MetadataError{Step: step, URL: rawURL, Field: typeErr.Field, Reason: "has the wrong JSON type: " + err.Error()}
		}
		return &MetadataError{Step: step, URL: rawURL, Reason: "not a JSON object: " + err.Error()}
	}
	return nil
}

// oauthError reads the RFC 6749 error fields of a JSON body, if any.
func oauthError(body []byte) (code, description string) {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return e.Error, e.Description
}

// absoluteHTTPS parses an absolute https URL with a host and no user info.
func absoluteHTTPS(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("%q is not an absolute https URL", raw)
	case u.User != nil:
		return nil, fmt.Errorf("%q carries user information", raw)
	}
	return u, nil
}

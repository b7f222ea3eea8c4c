package connect

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Steps that `mcpctl doctor` takes besides a client's own.
const (
	// StepTLS resolves a URL's host and completes a TLS handshake.
	StepTLS Step = "dns-tls"
	// StepAuthorize sends an authorization request without credentials.
	StepAuthorize Step = "authorization-request"
	// StepMCPCall is an MCP request with a bearer token.
	StepMCPCall Step = "mcp-call"
)

// TLSResult is what CheckTLS learned about a URL's host.
type TLSResult struct {
	URL  string `json:"url"`
	Host string `json:"host"`
	// Addresses are the host's addresses; Loopback says they were not
	// looked up because the name is under localhost (RFC 6761).
	Addresses []string `json:"addresses,omitempty"`
	Loopback  bool     `json:"loopback,omitempty"`
	// Version is the negotiated TLS version ("TLS 1.3").
	Version string `json:"tls_version,omitempty"`
	// Names are the DNS names of the server's certificate.
	Names    []string  `json:"certificate_names,omitempty"`
	Issuer   string    `json:"certificate_issuer,omitempty"`
	NotAfter time.Time `json:"certificate_not_after"`
}

// CheckTLS resolves the host of an https URL (a *RequestError of kind dns
// when it does not resolve), connects to it (connect) and completes a TLS
// handshake that verifies the certificate for the host with the client's
// trusted roots (tls). It sends no HTTP request and ignores proxies.
func (c *Client) CheckTLS(ctx context.Context, rawURL string) (*TLSResult, error) {
	u, err := absoluteHTTPS(rawURL)
	if err != nil {
		return nil, &RequestError{Step: StepTLS, URL: rawURL, Kind: FailureOther, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	res := &TLSResult{URL: rawURL, Host: host}
	if IsLoopbackName(host) {
		res.Addresses, res.Loopback = []string{"127.0.0.1", "::1"}, true
	} else if res.Addresses, err = net.DefaultResolver.LookupHost(ctx, host); err != nil {
		return res, classify(StepTLS, rawURL, err)
	}
	conn, err := c.dial(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return res, classify(StepTLS, rawURL, err)
	}
	defer func() { _ = conn.Close() }()
	cfg := c.tlsConfig.Clone()
	cfg.ServerName = host
	cfg.NextProtos = []string{"h2", "http/1.1"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		re := classify(StepTLS, rawURL, err)
		if re.Kind == FailureOther {
			// A handshake that fails is a TLS failure, whatever its error type.
			re.Kind = FailureTLS
		}
		return res, re
	}
	st := tc.ConnectionState()
	res.Version = tls.VersionName(st.Version)
	if len(st.PeerCertificates) > 0 {
		leaf := st.PeerCertificates[0]
		res.Names, res.Issuer, res.NotAfter = leaf.DNSNames, leaf.Issuer.CommonName, leaf.NotAfter
	}
	return res, nil
}

// AuthorizeParams are the client-specific parameters of ProbeAuthorize.
type AuthorizeParams struct {
	ClientID    string
	RedirectURI string
	// Resource is the RFC 8707 resource indicator (the MCP URL).
	Resource string
	// Scope is optional: empty means the client's default scopes.
	Scope string
}

// AuthorizeResult is the authorization server's answer to an
// authorization request that carries no credentials.
type AuthorizeResult struct {
	URL      string `json:"url"`
	Status   int    `json:"status"`
	Location string `json:"location,omitempty"`
	// ToRedirectURI says the answer redirects to the client's redirect URI,
	// which the server does only for a client and redirect URI it trusts
	// (RFC 6749 section 4.1.2.1); Error, ErrorDescription and Issuer are
	// then the redirect's error, error_description and iss parameters.
	ToRedirectURI    bool   `json:"to_redirect_uri,omitempty"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
	Issuer           string `json:"iss,omitempty"`
	// PageError and PageMessage are read from an error page (a 4xx or 5xx
	// without redirect): its JSON error fields, or the code and message
	// of this project's error page.
	PageError   string `json:"page_error,omitempty"`
	PageMessage string `json:"page_message,omitempty"`
}

// Accepted reports a request that goes on to sign-in or consent: a
// redirect that is not to the redirect URI, or a page that is not an error.
func (r *AuthorizeResult) Accepted() bool {
	if r.Status >= 300 && r.Status < 400 {
		return !r.ToRedirectURI && r.Location != ""
	}
	return r.Status == http.StatusOK
}

// ProbeAuthorize sends an authorization request (authorization code with
// PKCE S256, a random state and verifier that are thrown away) to the
// authorization endpoint, as an MCP client would before the user signs
// in, and reports the answer without following it. No credentials are
// involved; no code can come of it, since the user never signs in.
func (c *Client) ProbeAuthorize(ctx context.Context, authorizationEndpoint string, p AuthorizeParams) (*AuthorizeResult, error) {
	u, err := absoluteHTTPS(authorizationEndpoint)
	if err != nil {
		return nil, &MetadataError{Step: StepAuthorize, URL: authorizationEndpoint, Field: "authorization_endpoint", Reason: err.Error()}
	}
	verifier, state := randomString(), randomString()
	sum := sha256.Sum256([]byte(verifier))
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", p.ClientID)
	q.Set("redirect_uri", p.RedirectURI)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	q.Set("state", state)
	if p.Resource != "" {
		q.Set("resource", p.Resource)
	}
	if p.Scope != "" {
		q.Set("scope", p.Scope)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &RequestError{Step: StepAuthorize, URL: authorizationEndpoint, Kind: FailureOther, Err: err}
	}
	req.Header.Set("Accept", "text/html")
	r, err := c.do(StepAuthorize, req)
	if err != nil {
		return nil, err
	}
	res := &AuthorizeResult{URL: authorizationEndpoint, Status: r.StatusCode}
	switch {
	case r.StatusCode >= 300 && r.StatusCode < 400:
		res.Location = r.Header.Get("Location")
		if loc, err := url.Parse(res.Location); err == nil && p.RedirectURI != "" {
			loc.RawQuery, loc.Fragment = "", ""
			if loc.String() == strings.SplitN(p.RedirectURI, "?", 2)[0] {
				lq, _ := url.Parse(res.Location)
				v := lq.Query()
				res.ToRedirectURI = true
				res.Error, res.ErrorDescription, res.Issuer = v.Get("error"), v.Get("error_description"), v.Get("iss")
			}
		}
	case r.StatusCode >= 400:
		res.PageError, res.PageMessage = oauthError(r.body)
		if res.PageError == "" {
			res.PageError, res.PageMessage = ErrorPage(r.body)
		}
	}
	return res, nil
}

var (
	pageCode    = regexp.MustCompile(`Error code: <code>([^<]*)</code>`)
	pageMessage = regexp.MustCompile(`(?s)<p class="error"[^>]*>(.*?)</p>`)
)

// ErrorPage reads the code and message of this project's HTML error page.
func ErrorPage(body []byte) (code, message string) {
	if m := pageCode.FindSubmatch(body); m != nil {
		code = html.UnescapeString(string(m[1]))
	}
	if m := pageMessage.FindSubmatch(body); m != nil {
		message = strings.TrimSpace(html.UnescapeString(string(m[1])))
	}
	return code, message
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MCPCall is the answer to an MCP request made with a bearer token.
type MCPCall struct {
	URL    string `json:"url"`
	Method string `json:"method"`
	Status int    `json:"status"`
	// SessionID is the Mcp-Session-Id the server returned, if any.
	SessionID       string           `json:"session_id,omitempty"`
	WWWAuthenticate []string         `json:"www_authenticate,omitempty"`
	Bearer          *BearerChallenge `json:"bearer,omitempty"`
	// OAuthError and Description are the body's error fields, if any.
	OAuthError  string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
	// Result and RPCError are the JSON-RPC response's (a 200 answer).
	Result   json.RawMessage `json:"result,omitempty"`
	RPCError *RPCError       `json:"rpc_error,omitempty"`
}

// RPCError is a JSON-RPC error object.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// CallMCP posts one JSON-RPC request to an MCP URL with the bearer token
// (none when empty, as a client that has not completed OAuth sends) and
// the session id, if any. It returns the answer whenever one was received,
// with a *StatusError when its status is not 200; the Bearer challenge of
// a 401 or 403 is parsed into the result.
func (c *Client) CallMCP(ctx context.Context, mcpURL, bearer, sessionID, method string, params any) (*MCPCall, error) {
	if params == nil {
		params = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return nil, &RequestError{Step: StepMCPCall, URL: mcpURL, Kind: FailureOther, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mcpURL, bytes.NewReader(body))
	if err != nil {
		return nil, &RequestError{Step: StepMCPCall, URL: mcpURL, Kind: FailureOther, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if method != "initialize" {
		req.Header.Set("MCP-Protocol-Version", ProtocolVersion)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
	}
	r, err := c.do(StepMCPCall, req)
	if err != nil {
		return nil, err
	}
	res := &MCPCall{URL: mcpURL, Method: method, Status: r.StatusCode, SessionID: r.Header.Get("Mcp-Session-Id"),
		WWWAuthenticate: r.Header.Values("WWW-Authenticate")}
	res.OAuthError, res.Description = oauthError(r.body)
	if len(res.WWWAuthenticate) > 0 {
		if cs, err := ParseWWWAuthenticate(res.WWWAuthenticate); err == nil {
			res.Bearer, _ = Bearer(cs)
		}
	}
	if r.StatusCode != http.StatusOK {
		return res, statusError(StepMCPCall, mcpURL, r)
	}
	msg := r.body
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		msg = responseEvent(r.body)
	}
	var rpc struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(msg, &rpc); err != nil {
		return res, &MetadataError{Step: StepMCPCall, URL: mcpURL, Reason: "the answer is not a JSON-RPC response: " + err.Error()}
	}
	res.Result, res.RPCError = rpc.Result, rpc.Error
	if rpc.Error != nil {
		return res, fmt.Errorf("%s: %s %s: JSON-RPC error %d: %s", StepMCPCall, mcpURL, method, rpc.Error.Code, rpc.Error.Message)
	}
	return res, nil
}

// responseEvent returns the data of the server-sent event that carries the
// JSON-RPC response: a stream may send notifications first (the runtime
// sends notifications/tools/list_changed ahead of the answer after the
// tools changed). Without such an event it returns the first event's data.
func responseEvent(body []byte) []byte {
	var first []byte
	for _, data := range eventData(body) {
		if first == nil {
			first = data
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if json.Unmarshal(data, &msg) == nil && len(msg.ID) > 0 && (len(msg.Result) > 0 || len(msg.Error) > 0) {
			return data
		}
	}
	return first
}

// eventData returns the data of each server-sent event in body.
func eventData(body []byte) [][]byte {
	var events [][]byte
	var data []string
	flush := func() {
		if len(data) > 0 {
			events = append(events, []byte(strings.Join(data, "\n")))
			data = nil
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), maxBody)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			data = append(data, strings.TrimPrefix(v, " "))
		}
	}
	flush()
	return events
}

// ToolNames returns the names of a tools/list result.
func ToolNames(result json.RawMessage) ([]string, error) {
	var r struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, err
	}
	if r.Tools == nil && !bytes.Contains(result, []byte(`"tools"`)) {
		return nil, errors.New("the result has no tools member")
	}
	names := make([]string, 0, len(r.Tools))
	for _, t := range r.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

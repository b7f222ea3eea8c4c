// Package loadgen drives the runtime as MCP clients do, over HTTP: the OAuth
// authorization code flow with PKCE through the sign-in and consent pages,
// refresh-token rotation, and MCP initialize, tools/list and tools/call. The
// reliability tests (test/reliability) and the load script (test/load) run
// many such clients at once and record every request.
package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// Target is what a client connects to and as whom.
type Target struct {
	// Issuer is the authorization server, for example https://localhost:8443.
	Issuer string
	// Resource is the MCP URL the tokens are for.
	Resource string
	// ClientID and RedirectURI are a declared public OAuthClient's.
	ClientID, RedirectURI string
	// Scopes are requested at authorization.
	Scopes string
	// Email and Password sign in a static user.
	Email, Password string
	// Tool and Arguments are what CallTool calls.
	Tool      string
	Arguments map[string]any
}

// PlainTransport sends every request, http or https, over plain HTTP to
// addr: the runtime behind a gateway that terminates TLS, with the URLs
// (and so the Host header and the cookies) the clients see. keepAlive
// false opens a connection per request, as the local stack's Traefik does.
func PlainTransport(addr string, keepAlive bool) *http.Transport {
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	}
	return &http.Transport{
		DialContext: dial,
		// A plain connection returned here carries the https requests as
		// HTTP/1.1 (the transport takes it as past the TLS handshake).
		DialTLSContext:      dial,
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
}

// Error is a refused or failed step, with the answer's OAuth error code
// (from a JSON body, an error redirect or the runtime's error page) when
// there was one.
type Error struct {
	Step   string
	Status int
	Code   string
	Detail string
	Err    error
	// Lost is set when the connection failed before an answer was read
	// (refused, reset, timed out).
	Lost bool
	// RPC is the JSON-RPC error of an MCP answer, if it was one.
	RPC *connect.RPCError
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Code != "":
		return fmt.Sprintf("%s: %s (%s): %v", e.Step, e.Code, e.Detail, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Step, e.Err)
	case e.Code != "":
		return fmt.Sprintf("%s: %d %s: %s", e.Step, e.Status, e.Code, e.Detail)
	default:
		return fmt.Sprintf("%s: %d %s", e.Step, e.Status, e.Detail)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Cause says in a few words why a request failed, so that a fault test can
// judge a failure by its cause, not only by when it happened: "connection
// lost" (refused, reset or timed out before an answer), "JSON-RPC error
// <code>: <message>", "refused: <OAuth error code>", "tool error: <text>",
// or "HTTP <status>".
func Cause(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case !errors.As(err, &e):
		return "other: " + err.Error()
	case e.Lost:
		return "connection lost"
	case e.RPC != nil:
		return fmt.Sprintf("JSON-RPC error %d: %s", e.RPC.Code, e.RPC.Message)
	case e.Code == "tool_error":
		return "tool error: " + e.Detail
	case e.Code != "":
		return "refused: " + e.Code
	case e.Status != 0:
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return "other: " + err.Error()
}

// Lost reports whether err is a request whose connection failed before an
// answer was read: what a killed process or a cut link causes.
func Lost(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Lost
}

// Code returns the OAuth error code of err, or "".
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Client is one user agent and MCP client: its cookies (a signed-in
// browser), its tokens and its MCP session. It is not safe for concurrent
// use.
type Client struct {
	Target  Target
	browser *http.Client
	mcp     *connect.Client
	// Access and RefreshToken are the tokens of the last authorization or
	// refresh.
	Access, RefreshToken string
	session              string
	grants               []string
}

// NewClient returns a client that sends its requests through rt.
func NewClient(t Target, rt http.RoundTripper, timeout time.Duration) (*Client, error) {
	jar, _ := cookiejar.New(nil)
	mcp, err := connect.New(connect.Options{Timeout: timeout, Transport: rt, UserAgent: "loadgen"})
	if err != nil {
		return nil, err
	}
	return &Client{
		Target: t,
		browser: &http.Client{Jar: jar, Transport: rt, Timeout: timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		mcp: mcp,
	}, nil
}

// page is an answer with its body read.
type page struct {
	status   int
	location string
	body     string
}

func (c *Client) send(ctx context.Context, step, method, rawURL string, form url.Values) (*page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, &Error{Step: step, Err: err}
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.browser.Do(req)
	if err != nil {
		return nil, &Error{Step: step, Err: err, Lost: true}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &Error{Step: step, Err: err, Lost: true}
	}
	return &page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b)}, nil
}

// refusal describes an answer that is not the expected one: an error
// redirect, the error page or an OAuth JSON error.
func refusal(step string, p *page) *Error {
	e := &Error{Step: step, Status: p.status}
	if u, err := url.Parse(p.location); err == nil && u.Query().Get("error") != "" {
		e.Code, e.Detail = u.Query().Get("error"), u.Query().Get("error_description")
		return e
	}
	var j struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal([]byte(p.body), &j) == nil && j.Error != "" {
		e.Code, e.Detail = j.Error, j.Description
		return e
	}
	e.Code, e.Detail = connect.ErrorPage([]byte(p.body))
	if e.Code == "" {
		e.Detail = strings.TrimSpace(p.body[:min(len(p.body), 200)])
	}
	return e
}

var hidden = regexp.MustCompile(`name="(req|csrf)" value="([^"]+)"`)

// FormFields returns the hidden req and csrf fields of a sign-in or consent
// page.
func FormFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hidden.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

func random() string { return rand.Text() + rand.Text() }

// Authorize runs the authorization code flow: the authorization request,
// sign-in when the browser has no session yet, approval and the code
// exchange. It replaces the client's tokens and MCP session.
func (c *Client) Authorize(ctx context.Context) error {
	t := c.Target
	verifier, state := random(), rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {t.ClientID}, "redirect_uri": {t.RedirectURI}, "response_type": {"code"}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {t.Resource}, "scope": {t.Scopes}}
	p, err := c.send(ctx, "authorize", http.MethodGet, t.Issuer+"/oauth/authorize?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if p.status == http.StatusFound && strings.HasPrefix(p.location, "/ui/login?") {
		if p, err = c.signIn(ctx, p.location); err != nil {
			return err
		}
	}
	if p.status != http.StatusOK {
		return refusal("consent page", p)
	}
	form := FormFields(p.body)
	form.Set("decision", "approve")
	if p, err = c.send(ctx, "approve", http.MethodPost, t.Issuer+"/ui/consent", form); err != nil {
		return err
	}
	loc, _ := url.Parse(p.location)
	if p.status != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		return refusal("approve", p)
	}
	if subtle.ConstantTimeCompare([]byte(loc.Query().Get("state")), []byte(state)) != 1 {
		return &Error{Step: "approve", Status: p.status, Detail: "the redirect carries another state"}
	}
	if err := c.token(ctx, "code exchange", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {t.ClientID}, "redirect_uri": {t.RedirectURI}, "code_verifier": {verifier}}); err != nil {
		return err
	}
	c.grants = append(c.grants, c.Grant())
	return nil
}

// signIn follows the redirect to the sign-in page, signs in and returns the
// page it leads to (the consent page).
func (c *Client) signIn(ctx context.Context, location string) (*page, error) {
	iss := c.Target.Issuer
	p, err := c.send(ctx, "sign-in page", http.MethodGet, iss+location, nil)
	if err != nil {
		return nil, err
	}
	if p.status != http.StatusOK {
		return nil, refusal("sign-in page", p)
	}
	form := FormFields(p.body)
	form.Set("email", c.Target.Email)
	form.Set("password", c.Target.Password)
	if p, err = c.send(ctx, "sign-in", http.MethodPost, iss+"/ui/login", form); err != nil {
		return nil, err
	}
	if p.status != http.StatusSeeOther {
		return nil, refusal("sign-in", p)
	}
	return c.send(ctx, "consent page", http.MethodGet, iss+p.location, nil)
}

// Refresh rotates the refresh token and replaces both tokens.
func (c *Client) Refresh(ctx context.Context) error {
	return c.token(ctx, "refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.RefreshToken}, "client_id": {c.Target.ClientID}})
}

func (c *Client) token(ctx context.Context, step string, form url.Values) error {
	p, err := c.send(ctx, step, http.MethodPost, c.Target.Issuer+"/oauth/token", form)
	if err != nil {
		return err
	}
	var tok struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if p.status != http.StatusOK || json.Unmarshal([]byte(p.body), &tok) != nil || tok.Access == "" || tok.Refresh == "" {
		return refusal(step, p)
	}
	c.Access, c.RefreshToken = tok.Access, tok.Refresh
	return nil
}

// call sends one MCP request with the access token and the session,
// initializing a session first when there is none.
func (c *Client) call(ctx context.Context, method string, params any) (*connect.MCPCall, error) {
	if c.session == "" && method != "initialize" {
		if err := c.Initialize(ctx); err != nil {
			return nil, err
		}
	}
	res, err := c.mcp.CallMCP(ctx, c.Target.Resource, c.Access, c.session, method, params)
	if err != nil {
		var lost *connect.RequestError
		e := &Error{Step: method, Err: err, Lost: errors.As(err, &lost)}
		if res != nil {
			e.Status, e.Code, e.Detail, e.RPC = res.Status, res.OAuthError, res.Description, res.RPCError
			if res.Bearer != nil && e.Code == "" {
				e.Code = res.Bearer.Error
			}
		}
		return nil, e
	}
	return res, nil
}

// Initialize starts an MCP session.
func (c *Client) Initialize(ctx context.Context) error {
	res, err := c.call(ctx, "initialize", map[string]any{"protocolVersion": connect.ProtocolVersion, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "loadgen", "version": "1"}})
	if err != nil {
		return err
	}
	c.session = res.SessionID
	return nil
}

// ListTools lists the tools and returns how many there are.
func (c *Client) ListTools(ctx context.Context) (int, error) {
	res, err := c.call(ctx, "tools/list", nil)
	if err != nil {
		return 0, err
	}
	names, err := connect.ToolNames(res.Result)
	if err != nil {
		return 0, &Error{Step: "tools/list", Status: res.Status, Err: err}
	}
	return len(names), nil
}

// CallTool calls the target's tool; a tool error is an error.
func (c *Client) CallTool(ctx context.Context) error {
	res, err := c.call(ctx, "tools/call", map[string]any{"name": c.Target.Tool, "arguments": c.Target.Arguments})
	if err != nil {
		return err
	}
	var r struct {
		IsError bool `json:"isError"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(res.Result, &r); err != nil || r.IsError {
		detail := "the result does not parse"
		if len(r.Content) > 0 {
			detail = r.Content[0].Text
		}
		return &Error{Step: "tools/call", Status: res.Status, Code: "tool_error", Detail: detail}
	}
	return nil
}

// Grants are the names of every grant (Connection) the client obtained.
func (c *Client) Grants() []string { return c.grants }

// Grant is the name of the grant (Connection) the client's refresh token
// belongs to, or "".
func (c *Client) Grant() string {
	name, _ := tokens.ParseOpaque(tokens.RefreshPrefix, c.RefreshToken)
	return name
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
)

const doctorName = "doctor"

// accessTokenEnv may hold the connector's access token instead of --token.
const accessTokenEnv = "MCPCTL_TOKEN"

const doctorUsage = `Usage: mcpctl doctor (--handle HANDLE | --gateway | --server-url URL)
         [--base-domain DOMAIN] [--compat] [--expected-issuer URL]
         [--client-id ID --redirect-uri CALLBACK [--registration-access-token TOKEN]]
         [--token mcpv1_... [--session-id ID]] [-o text|json] [--ca-file FILE] [--timeout 10s]

Walks the connection of a connector step by step, as the connector does, and
prints each step as PASS, FAIL or SKIP; every failure that matches a row of the
guide's troubleshooting table names it (symptom, likely cause, fix):

  dns-tls              the hosted URL's and the compatibility URL's DNS and TLS
                       (the shared app URL's with --gateway)
  challenge            the unauthenticated 401 and its exact resource_metadata
  resource-metadata    the RFC 9728 protected-resource metadata
  authorization-server the advertised authorization server is the expected issuer
  auth-server-metadata the RFC 8414 metadata of the issuer
  callback             --redirect-uri is registered for --client-id: an authorization
                       request without credentials (an error page means it is not),
                       or the client read with --registration-access-token (RFC 7592)
  resource             the authorization server accepts the MCP URL as the resource of
                       the client (the shared gateway's with --gateway)
  token                --token (or $MCPCTL_TOKEN; --token '' is a connector without
                       one) on the MCP URL: its format, expiry and handle binding
  session              --session-id on this handle
  scopes, tools-list   tools/list with the token: its scopes, and the tools

Exit status: 0 nothing failed, 1 a step failed, 2 bad flags.

Flags:
`

// doctorFlags are the command line of doctor.
type doctorFlags struct {
	targetFlags
	clientID, redirectURI, registrationToken string
	token, sessionID                         string
	tokenGiven                               bool
}

// Check statuses.
const (
	statusPass = "PASS"
	statusFail = "FAIL"
	statusSkip = "SKIP"
)

// check is one step's result.
type check struct {
	Step   string              `json:"step"`
	Status string              `json:"status"`
	URL    string              `json:"url,omitempty"`
	Detail []string            `json:"detail,omitempty"`
	Row    *troubleshootingRow `json:"troubleshooting,omitempty"`
	Hint   string              `json:"hint,omitempty"`
}

// doctorReport is what doctor prints.
type doctorReport struct {
	MCPURL    string  `json:"mcp_url"`
	Handle    string  `json:"handle,omitempty"`
	Gateway   bool    `json:"gateway,omitempty"`
	HostedURL string  `json:"hosted_url,omitempty"`
	CompatURL string  `json:"compatibility_url,omitempty"`
	Issuer    string  `json:"expected_issuer,omitempty"`
	Checks    []check `json:"checks"`
	// Rows are the troubleshooting rows the failures match, in the
	// guide's order.
	Rows   []troubleshootingRow `json:"troubleshooting"`
	Passed int                  `json:"passed"`
	Failed int                  `json:"failed"`
	Skip   int                  `json:"skipped"`
}

func doctorCommand(args []string, stdout, stderr io.Writer) int {
	f := &doctorFlags{}
	fs := flag.NewFlagSet(doctorName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, doctorUsage)
		fs.PrintDefaults()
	}
	f.register(fs)
	fs.StringVar(&f.clientID, "client-id", "", "the connector's OAuth client id, to check its callback (with --redirect-uri)")
	fs.StringVar(&f.redirectURI, "redirect-uri", "", "the connector's exact callback URL, to check that --client-id has it registered")
	fs.StringVar(&f.registrationToken, "registration-access-token", "", "read --client-id with this token (RFC 7592) instead of probing the authorization endpoint (or $"+tokenEnv+")")
	fs.StringVar(&f.token, "token", "", "the connector's access token, mcpv1_... (or $"+accessTokenEnv+"); --token '' checks a connector without one")
	fs.StringVar(&f.sessionID, "session-id", "", "the connector's Mcp-Session-Id, to check its handle (with --token)")
	fs.StringVar(&f.output, "o", "text", "output: text or json")
	fs.StringVar(&f.output, "output", "text", "same as -o")
	if code, ok := f.parse(fs, args); !ok {
		return code
	}
	if f.registrationToken == "" {
		f.registrationToken = os.Getenv(tokenEnv)
	}
	f.tokenGiven = f.set["token"]
	if !f.tokenGiven {
		f.token, f.tokenGiven = os.LookupEnv(accessTokenEnv)
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "mcpctl %s: %s\nRun 'mcpctl %s --help' for the flags.\n", doctorName, msg, doctorName)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	t, err := f.validate()
	if err != nil {
		return usage(err.Error())
	}
	client, err := connect.New(connect.Options{Timeout: f.timeout, CAFile: f.caFile, UserAgent: "mcpctl-doctor"})
	if err != nil {
		return usage(fmt.Sprintf("--ca-file: %v", err))
	}
	d := &doctor{f: f, t: t, client: client}
	rep := d.run(context.Background())
	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	if rep.Failed > 0 {
		return exitError
	}
	return exitOK
}

// validate checks the flags and works out the target, as setup does.
func (f *doctorFlags) validate() (*target, error) {
	switch f.output {
	case "text", "json":
	default:
		return nil, fmt.Errorf("-o %q: must be text or json", f.output)
	}
	if (f.clientID == "") != (f.redirectURI == "") {
		return nil, errors.New("--client-id and --redirect-uri go together: the check is whether that client has that exact callback registered")
	}
	if f.redirectURI != "" {
		if err := checkRedirectURI(f.redirectURI); err != nil {
			return nil, fmt.Errorf("--redirect-uri %q: %w", f.redirectURI, err)
		}
	}
	if f.registrationToken != "" && f.clientID == "" && f.set["registration-access-token"] {
		return nil, errors.New("--registration-access-token needs --client-id and --redirect-uri")
	}
	if f.sessionID != "" && !f.tokenGiven {
		return nil, errors.New("--session-id needs --token (or $" + accessTokenEnv + "): a session is only used with the token that opened it")
	}
	return f.target(false)
}

// doctor walks the steps; each adds a check.
type doctor struct {
	f      *doctorFlags
	t      *target
	client *connect.Client
	rep    *doctorReport

	mcpURL  string // the URL the steps after dns-tls use
	probe   *connect.ProbeResult
	prm     *connect.ResourceMetadata
	as      *connect.AuthServerMetadata
	session string // opened by the token step
}

func (d *doctor) add(c check) { d.rep.Checks = append(d.rep.Checks, c) }

func (d *doctor) pass(step, u string, detail ...string) {
	d.add(check{Step: step, Status: statusPass, URL: u, Detail: detail})
}

func (d *doctor) skip(step, why string) {
	d.add(check{Step: step, Status: statusSkip, Detail: []string{why}})
}

// fail adds a failure; row names the guide's row it matches, "" for none.
func (d *doctor) fail(step, u, row, hint string, detail ...string) {
	d.add(check{Step: step, Status: statusFail, URL: u, Detail: detail, Row: rowFor(row, d.t), Hint: hint})
}

func (d *doctor) run(ctx context.Context) *doctorReport {
	t := d.t
	d.rep = &doctorReport{MCPURL: t.url, Handle: t.handle, Gateway: t.gateway, Issuer: t.issuer}
	if t.handle != "" && t.hasEnv {
		d.rep.HostedURL, d.rep.CompatURL = t.env.hostedURL(t.handle), t.env.compatibilityURL(t.handle)
	}
	d.mcpURL = t.url
	reachable := d.transport(ctx)
	if reachable {
		d.challenge(ctx)
		d.resourceMetadata(ctx)
	} else {
		for _, s := range []string{"challenge", "resource-metadata"} {
			d.skip(s, "the MCP URL cannot be reached (dns-tls)")
		}
	}
	d.authorizationServer(ctx)
	d.callbackAndResource(ctx)
	d.tokenSteps(ctx, reachable)

	seen := map[string]bool{}
	for _, c := range d.rep.Checks {
		switch c.Status {
		case statusPass:
			d.rep.Passed++
		case statusFail:
			d.rep.Failed++
		default:
			d.rep.Skip++
		}
		if c.Row != nil {
			seen[c.Row.ID] = true
		}
	}
	d.rep.Rows = []troubleshootingRow{}
	for _, id := range rowOrder {
		if seen[id] {
			d.rep.Rows = append(d.rep.Rows, *rowFor(id, d.t))
		}
	}
	return d.rep
}

// transport checks DNS and TLS of the URLs: the hosted and the
// compatibility URL of a handle (both, whichever the connector uses), or
// the one URL. It picks the URL the other steps use and reports whether
// one can be reached.
func (d *doctor) transport(ctx context.Context) bool {
	hosted, compat := d.rep.HostedURL, d.rep.CompatURL
	if hosted == "" {
		return d.tlsCheck(ctx, "dns-tls", d.mcpURL, "") == nil
	}
	hostedErr := d.tlsCheck(ctx, "dns-tls hosted", hosted, compat)
	compatErr := d.tlsCheck(ctx, "dns-tls compatibility", compat, "")
	switch {
	case hostedErr == nil && compatErr == nil:
		return true
	case hostedErr != nil && compatErr == nil:
		if d.mcpURL == hosted {
			d.mcpURL = compat
			d.rep.Checks[len(d.rep.Checks)-2].Detail = append(d.rep.Checks[len(d.rep.Checks)-2].Detail,
				"the next steps use the compatibility URL "+compat)
		}
		return true
	case hostedErr == nil:
		return d.mcpURL == hosted
	}
	return false
}

// tlsCheck runs CheckTLS; a failure of the hosted URL whose compatibility
// URL (fallback, when not "") works matches the guide's row.
func (d *doctor) tlsCheck(ctx context.Context, step, u, fallback string) error {
	res, err := d.client.CheckTLS(ctx, u)
	if err == nil {
		resolved := strings.Join(res.Addresses, ", ")
		if res.Loopback {
			resolved += " (a localhost name: loopback, RFC 6761)"
		}
		d.pass(step, u, fmt.Sprintf("%s resolves to %s", res.Host, resolved),
			fmt.Sprintf("%s, certificate for %s issued by %s, valid until %s", res.Version, strings.Join(res.Names, ", "),
				res.Issuer, res.NotAfter.UTC().Format(time.RFC3339)))
		return nil
	}
	row, hint := "", d.requestHint(err)
	if fallback != "" {
		if _, ferr := d.client.CheckTLS(ctx, fallback); ferr == nil {
			row = rowHostedFails
		}
	}
	d.fail(step, u, row, hint, err.Error())
	return err
}

// requestHint is the advice for a request that got no response.
func (d *doctor) requestHint(err error) string {
	var re *connect.RequestError
	if !errors.As(err, &re) {
		return ""
	}
	switch {
	case re.Kind == connect.FailureTLS && d.f.caFile == "":
		return "the certificate is not trusted or not for this host; for the local stack pass --ca-file .local/tls.crt"
	case re.Kind == connect.FailureTLS:
		return "the certificate is not trusted or not issued for this host name"
	case re.Kind == connect.FailureDNS:
		return "the host name does not resolve"
	}
	return ""
}

// challenge is the unauthenticated request and its 401.
func (d *doctor) challenge(ctx context.Context) {
	const step = "challenge"
	probe, err := d.client.Probe(ctx, d.mcpURL)
	d.probe = probe
	if err != nil {
		var se *connect.StatusError
		row, hint := "", d.requestHint(err)
		switch {
		case errors.As(err, &se) && se.OAuthError == oautherr.HandleNotFound:
			hint = "no such handle: check the handle name (kubectl get handles)"
		case errors.As(err, &se) && se.Status == 404 && d.t.gateway:
			row = rowGatewayTarget
			hint = "the shared app URL is not served here (sharedGateway.enabled is false in the platform configuration)"
		case errors.As(err, &se) && d.mcpURL == d.rep.HostedURL && d.rep.CompatURL != "":
			// An edge that does not route the hosted host yet.
			if p, perr := d.client.Probe(ctx, d.rep.CompatURL); perr == nil && p.Status == 401 {
				row = rowHostedFails
			}
		}
		d.fail(step, d.mcpURL, row, hint, "POST without a token: "+err.Error())
		return
	}
	b := probe.Bearer
	answer := "401"
	if probe.OAuthError != "" {
		answer += " " + probe.OAuthError
	}
	detail := []string{fmt.Sprintf("POST without a token: %s, Bearer challenge resource_metadata=%q scope=%q",
		answer, b.ResourceMetadata, strings.Join(b.Scope, " "))}
	want, _ := connect.ResourceMetadataURL(d.mcpURL)
	switch {
	case b.ResourceMetadata == "":
		d.fail(step, d.mcpURL, "", "ChatGPT finds the metadata through resource_metadata", append(detail, "the challenge names no resource_metadata; expected "+want)...)
	case b.ResourceMetadata != want:
		d.fail(step, d.mcpURL, "", "", append(detail, "resource_metadata is not this URL's metadata "+want)...)
	default:
		if probe.OAuthError == oautherr.MissingBearerToken {
			detail = append(detail, "missing_bearer_token is the expected answer before OAuth")
		}
		d.pass(step, d.mcpURL, detail...)
	}
}

// resourceMetadata fetches the RFC 9728 document.
func (d *doctor) resourceMetadata(ctx context.Context) {
	const step = "resource-metadata"
	metadataURL := ""
	if d.probe != nil && d.probe.Bearer != nil {
		metadataURL = d.probe.Bearer.ResourceMetadata
	}
	shown := metadataURL
	if shown == "" {
		shown, _ = connect.ResourceMetadataURL(d.mcpURL)
	}
	prm, err := d.client.FetchResourceMetadata(ctx, d.mcpURL, metadataURL)
	if err != nil {
		row, hint := "", d.requestHint(err)
		var se *connect.StatusError
		if errors.As(err, &se) && se.Status == 404 && d.t.gateway {
			row = rowGatewayTarget
		}
		d.fail(step, shown, row, hint, err.Error())
		return
	}
	d.prm = prm
	d.pass(step, shown, fmt.Sprintf("resource %s, authorization_servers %s, scopes_supported %d", prm.Resource,
		strings.Join(prm.AuthorizationServers, ", "), len(prm.ScopesSupported)))
}

// authorizationServer compares the advertised server with the expected
// issuer, then fetches the issuer's metadata.
func (d *doctor) authorizationServer(ctx context.Context) {
	issuer := d.t.issuer
	switch {
	case d.prm == nil:
		d.skip("authorization-server", "no protected-resource metadata to read authorization_servers from")
	case issuer == "":
		issuer = d.prm.AuthorizationServers[0]
		d.skip("authorization-server", "the expected issuer is unknown for "+d.t.url+": pass --expected-issuer (or --base-domain)")
	default:
		var other []string
		for _, as := range d.prm.AuthorizationServers {
			if as != issuer {
				other = append(other, as)
			}
		}
		if len(other) > 0 {
			d.fail("authorization-server", d.mcpURL, rowOAuthFields,
				"the edge or runtime rollout is still serving stale auth metadata; if "+issuer+" is not this environment's issuer, pass --expected-issuer or --base-domain",
				fmt.Sprintf("the resource advertises authorization_servers %s; this environment's issuer is %s",
					strings.Join(d.prm.AuthorizationServers, ", "), issuer))
		} else {
			d.pass("authorization-server", d.mcpURL, "advertised "+issuer+", the expected issuer")
		}
	}
	if issuer == "" {
		d.skip("auth-server-metadata", "no issuer: neither discovered nor expected")
		return
	}
	as, metadataURL, err := d.client.FetchAuthServerMetadata(ctx, issuer)
	if err != nil {
		u := metadataURL
		if u == "" {
			u = issuer
		}
		d.fail("auth-server-metadata", u, "", d.requestHint(err), err.Error())
		return
	}
	d.as = as
	d.pass("auth-server-metadata", metadataURL, fmt.Sprintf("issuer %s, authorization_endpoint %s, registration_endpoint %s, PKCE %s",
		as.Issuer, as.AuthorizationEndpoint, as.RegistrationEndpoint, strings.Join(as.CodeChallengeMethodsSupported, " ")))
}

// callbackAndResource checks that the client has the exact callback and
// that the authorization server accepts the MCP URL as its resource.
func (d *doctor) callbackAndResource(ctx context.Context) {
	switch {
	case d.f.clientID == "":
		d.skip("callback", "pass --client-id and --redirect-uri (the exact callback URL ChatGPT shows) to check the registration")
		d.skip("resource", "needs --client-id and --redirect-uri")
		return
	case d.as == nil:
		d.skip("callback", "no authorization-server metadata")
		d.skip("resource", "no authorization-server metadata")
		return
	}
	resource := d.mcpURL
	if d.f.registrationToken != "" {
		d.readClient(ctx)
	}
	res, err := d.client.ProbeAuthorize(ctx, d.as.AuthorizationEndpoint, connect.AuthorizeParams{
		ClientID: d.f.clientID, RedirectURI: d.f.redirectURI, Resource: resource})
	if err != nil {
		if d.f.registrationToken == "" {
			d.fail("callback", d.as.AuthorizationEndpoint, "", d.requestHint(err), err.Error())
		}
		d.skip("resource", "the authorization request failed")
		return
	}
	request := fmt.Sprintf("GET %s with client_id %s, redirect_uri %s, resource %s, PKCE S256", d.as.AuthorizationEndpoint,
		d.f.clientID, d.f.redirectURI, resource)
	answer := fmt.Sprintf("%d", res.Status)
	if res.Location != "" {
		answer += ", redirect to " + truncate(res.Location, 120)
	}
	if res.PageError != "" {
		answer += ", error page: " + res.PageError
		if res.PageMessage != "" {
			answer += " (" + res.PageMessage + ")"
		}
	}
	if !res.ToRedirectURI && !res.Accepted() {
		// An error page: the server does not trust the client and callback.
		if d.f.registrationToken == "" {
			row, hint := rowCallback, ""
			if res.PageError == oautherr.InvalidClient {
				row, hint = "", "the client_id is not registered: register the connector with mcpctl setup-chatgpt-mcp-oauth"
			}
			d.fail("callback", d.f.redirectURI, row, hint, request, answer,
				"the authorization server shows an error page instead of redirecting: this callback is not registered for the client")
		}
		d.skip("resource", "the authorization server refused the client or the callback")
		return
	}
	if d.f.registrationToken == "" {
		how := "a redirect to the callback"
		if !res.ToRedirectURI {
			how = "a redirect to sign-in"
		}
		d.pass("callback", d.f.redirectURI, request, answer, how+": the callback is registered for "+d.f.clientID)
	}
	switch {
	case res.Error == "":
		d.pass("resource", resource, "the authorization server accepts "+resource+" for "+d.f.clientID)
	case res.Error == oautherr.InvalidTarget && d.t.gateway && !strings.Contains(res.ErrorDescription, "registered for"):
		d.fail("resource", resource, rowGatewayTarget, "", answer,
			fmt.Sprintf("invalid_target: %s", res.ErrorDescription))
	case res.Error == oautherr.InvalidTarget:
		d.fail("resource", resource, "", "this client is for another handle or for the other URL kind: register a client for this connector (mcpctl setup-chatgpt-mcp-oauth)",
			answer, fmt.Sprintf("invalid_target: %s", res.ErrorDescription))
	default:
		d.fail("resource", resource, "", "", answer, fmt.Sprintf("%s: %s", res.Error, res.ErrorDescription))
	}
}

// readClient checks the callback through RFC 7592 with the registration
// access token.
func (d *doctor) readClient(ctx context.Context) {
	if d.as.RegistrationEndpoint == "" {
		d.fail("callback", d.as.AuthorizationEndpoint, "", "", "the authorization server has no registration_endpoint to read the client from")
		return
	}
	clientURI := connect.ClientURI(d.as.RegistrationEndpoint, d.f.clientID)
	reg, err := d.client.ReadClient(ctx, clientURI, d.f.registrationToken)
	if err != nil {
		hint := d.requestHint(err)
		var se *connect.StatusError
		if errors.As(err, &se) && se.OAuthError == oautherr.InvalidToken {
			hint = "the registration access token does not match --client-id; it was printed when the client was registered"
		}
		d.fail("callback", clientURI, "", hint, "GET (RFC 7592): "+err.Error())
		return
	}
	detail := []string{fmt.Sprintf("GET %s (RFC 7592): redirect_uris %s, resource %s", clientURI, strings.Join(reg.RedirectURIs, " "), reg.Resource)}
	if !slices.Contains(reg.RedirectURIs, d.f.redirectURI) {
		d.fail("callback", d.f.redirectURI, rowCallback, "", append(detail, "the client's redirect_uris lack "+d.f.redirectURI)...)
		return
	}
	d.pass("callback", d.f.redirectURI, append(detail, "the callback is registered for "+d.f.clientID)...)
}

// tokenSteps use the connector's token: its binding, the session, the
// scopes of tools/list and the tools.
func (d *doctor) tokenSteps(ctx context.Context, reachable bool) {
	steps := []string{"token", "session", "scopes", "tools-list"}
	skipAll := func(from int, why string) {
		for _, s := range steps[from:] {
			if s == "session" && d.f.sessionID == "" {
				d.skip(s, "pass --session-id (with --token) to check the connector's session")
				continue
			}
			d.skip(s, why)
		}
	}
	if !d.f.tokenGiven {
		d.skip("token", "pass --token mcpv1_... (or $"+accessTokenEnv+") to check the connector's token; --token '' checks a connector without one")
		skipAll(1, "needs --token")
		return
	}
	if !reachable {
		skipAll(0, "the MCP URL cannot be reached (dns-tls)")
		return
	}
	init := map[string]any{"protocolVersion": connect.ProtocolVersion, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "mcpctl-doctor", "version": "1"}}
	what := "POST initialize with the token"
	if d.f.token == "" {
		what = "POST initialize without a token (--token is empty: a connector that has none)"
	}
	call, err := d.client.CallMCP(ctx, d.mcpURL, d.f.token, "", "initialize", init)
	if err != nil {
		d.fail("token", d.mcpURL, tokenRow(call), d.tokenHint(call, err), what+": "+mcpAnswer(call, err))
		skipAll(1, "the token was refused")
		return
	}
	d.session = call.SessionID
	detail := []string{what + ": 200"}
	if call.SessionID != "" {
		detail = append(detail, "session opened for this handle")
	}
	d.pass("token", d.mcpURL, detail...)

	if d.f.sessionID == "" {
		d.skip("session", "pass --session-id to check the connector's session")
	} else {
		s, err := d.client.CallMCP(ctx, d.mcpURL, d.f.token, d.f.sessionID, "tools/list", nil)
		what := "POST tools/list with the token and Mcp-Session-Id " + truncate(d.f.sessionID, 24)
		switch {
		case err == nil:
			d.pass("session", d.mcpURL, what+": 200, the session is this handle's")
		case s != nil && s.OAuthError == oautherr.SessionHandleMismatch:
			d.fail("session", d.mcpURL, rowSessionMismatch, "", what+": "+mcpAnswer(s, err))
		case s != nil && s.Status == 404:
			d.fail("session", d.mcpURL, "", "the session is unknown, expired or another user's: the connector initializes a new one",
				what+": "+mcpAnswer(s, err))
		case s != nil && s.Status == 403 && s.OAuthError == oautherr.InsufficientScope:
			d.pass("session", d.mcpURL, what+": the session is this handle's (the scopes step checks the 403)")
		default:
			d.fail("session", d.mcpURL, "", d.requestHint(err), what+": "+mcpAnswer(s, err))
		}
	}

	list, err := d.client.CallMCP(ctx, d.mcpURL, d.f.token, d.session, "tools/list", nil)
	what = "POST tools/list with the token"
	switch {
	case err == nil:
		d.pass("scopes", d.mcpURL, what+": 200, the approved scopes cover tools/list")
		names, nerr := connect.ToolNames(list.Result)
		if nerr != nil {
			d.fail("tools-list", d.mcpURL, "", "", "the tools/list result: "+nerr.Error())
			return
		}
		detail := []string{fmt.Sprintf("%d tools", len(names))}
		if len(names) > 0 {
			detail = append(detail, strings.Join(names, ", "))
		}
		d.pass("tools-list", d.mcpURL, detail...)
	case list != nil && list.Status == 403 && list.OAuthError == oautherr.InsufficientScope:
		detail := []string{what + ": " + mcpAnswer(list, err)}
		if list.Bearer != nil {
			detail = append(detail, "the challenge asks for scope "+strings.Join(list.Bearer.Scope, " "))
		}
		d.fail("scopes", d.mcpURL, rowInsufficient, "", detail...)
		d.skip("tools-list", "the token's scopes do not cover tools/list")
	default:
		d.fail("scopes", d.mcpURL, tokenRow(list), d.tokenHint(list, err), what+": "+mcpAnswer(list, err))
		d.skip("tools-list", "tools/list failed")
	}
}

// tokenRow is the guide's row of a refused token.
func tokenRow(call *connect.MCPCall) string {
	if call == nil {
		return ""
	}
	switch call.OAuthError {
	case oautherr.MissingBearerToken:
		return rowMissingBearer
	case oautherr.InvalidTokenFormat:
		return rowInvalidFormat
	case oautherr.SessionHandleMismatch:
		return rowSessionMismatch
	case oautherr.InsufficientScope:
		return rowInsufficient
	}
	return ""
}

// tokenHint is the advice for refusals the guide has no row for.
func (d *doctor) tokenHint(call *connect.MCPCall, err error) string {
	if call == nil {
		return d.requestHint(err)
	}
	switch call.OAuthError {
	case oautherr.InvalidToken:
		return "the token is forged, expired or its grant was revoked: re-authorize the connector"
	case oautherr.TokenHandleMismatch:
		return "the token was issued for another handle: one connector per handle, authorized for this one"
	case oautherr.HandleNotFound:
		return "no such handle: check the handle name (kubectl get handles)"
	}
	return ""
}

// mcpAnswer describes an MCP answer, or the failure to get one.
func mcpAnswer(call *connect.MCPCall, err error) string {
	if call == nil {
		if err != nil {
			return err.Error()
		}
		return "no answer"
	}
	s := fmt.Sprintf("%d", call.Status)
	if call.OAuthError != "" {
		s += " " + call.OAuthError
	}
	if call.Description != "" {
		s += " (" + call.Description + ")"
	}
	if call.RPCError != nil {
		s += fmt.Sprintf(", JSON-RPC error %d: %s", call.RPCError.Code, call.RPCError.Message)
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// printReport prints one block per step, then the rows and a summary.
func printReport(w io.Writer, r *doctorReport) {
	binding := "the shared app URL"
	if r.Handle != "" {
		binding = "handle " + r.Handle
	}
	fmt.Fprintf(w, "mcpctl doctor: %s, %s", binding, r.MCPURL)
	if r.Issuer != "" {
		fmt.Fprintf(w, " (expected issuer %s)", r.Issuer)
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%s  %-22s %s", c.Status, c.Step, c.URL), " "))
		for _, d := range c.Detail {
			fmt.Fprintf(w, "      %s\n", d)
		}
		if c.Hint != "" {
			fmt.Fprintf(w, "      hint: %s\n", c.Hint)
		}
		if c.Row != nil {
			fmt.Fprintf(w, "      Troubleshooting: %s\n        Likely cause: %s\n        Fix:          %s\n", c.Row.Symptom, c.Row.Cause, c.Row.Fix)
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped.\n", r.Passed, r.Failed, r.Skip)
	if len(r.Rows) > 0 {
		fmt.Fprintln(w, "Troubleshooting rows matched:")
		for _, row := range r.Rows {
			fmt.Fprintf(w, "  - %s\n", row.Symptom)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
)

const setupName = "setup-chatgpt-mcp-oauth"

// Exit codes of setup-chatgpt-mcp-oauth.
const (
	exitOK    = 0
	exitError = 1 // discovery, registration or network failure
	exitUsage = 2 // missing or invalid flags
	// exitWrongIssuer: discovery advertises an authorization server other
	// than the environment's issuer (the guide's legacy host case).
	exitWrongIssuer = 3
)

// tokenEnv may hold the registration access token instead of the flag,
// which would otherwise stay in the shell history.
const tokenEnv = "MCPCTL_REGISTRATION_ACCESS_TOKEN"

// chatGPTCallbackPrefix starts every ChatGPT connector callback.
const chatGPTCallbackPrefix = "https://chatgpt.com/connector/oauth/"

const setupUsage = `Usage: mcpctl setup-chatgpt-mcp-oauth (--handle HANDLE | --gateway | --server-url URL)
         --redirect-uri https://chatgpt.com/connector/oauth/CALLBACK_ID [--redirect-uri ...]
         [--base-domain DOMAIN] [--compat] [--expected-issuer URL] [--scopes "a b"]
         [--client-id ID --registration-access-token TOKEN [--replace-redirect-uris]]
         [-o text|json|yaml] [--ca-file FILE] [--timeout 10s]

Requests the MCP URL without a token, follows the 401 challenge to the
protected-resource and authorization-server metadata, registers a client for
the connector's exact callback URLs (RFC 7591) or repairs an existing one
(RFC 7592), and prints the values to enter in ChatGPT. -o yaml prints an
OAuthClient manifest for a GitOps repository instead, without any request.

The MCP URL: https://{handle}.mcp.{base-domain}/mcp (--handle),
https://ai.{base-domain}/mcp (--gateway), https://ai.{base-domain}/mcp/{handle}/mcp
(--handle --compat), or --server-url as given. The base domain defaults to
10x.in; "localhost:8443" is the local stack (make run), whose gateway is
https://localhost:8443.

Exit status: 0 done, 1 failed, 2 bad flags, 3 the resource advertises another
authorization server than the environment's issuer (nothing registered).

Flags:
`

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// setupFlags are the command line of setup-chatgpt-mcp-oauth.
type setupFlags struct {
	targetFlags
	replace                                   bool
	redirectURIs                              stringList
	scopes, clientName, tokenAuthMethod, name string
	clientID, registrationToken               string
}

// target is the MCP URL to connect and what it is bound to.
type target struct {
	url     string
	handle  string // "" for the shared gateway
	gateway bool
	compat  bool
	env     environment
	hasEnv  bool
	issuer  string // the expected authorization server, "" when unknown
}

// setupResult is what the command prints: the guide's five values first.
type setupResult struct {
	MCPServerURL            string   `json:"mcp_server_url"`
	AuthorizationServer     string   `json:"authorization_server"`
	ClientID                string   `json:"client_id"`
	RedirectURIs            []string `json:"redirect_uris"`
	DefaultScopes           []string `json:"default_scopes"`
	Action                  string   `json:"action"` // registered or updated
	Resource                string   `json:"resource,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	RegistrationAccessToken string   `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string   `json:"registration_client_uri,omitempty"`
}

// usageError is a flag problem: exit 2 with the message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func setupCommand(args []string, stdout, stderr io.Writer) int {
	f := &setupFlags{}
	fs := flag.NewFlagSet(setupName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, setupUsage)
		fs.PrintDefaults()
	}
	f.register(fs)
	fs.Var(&f.redirectURIs, "redirect-uri", "an exact callback URL to allowlist (repeatable; at least one; https)")
	fs.StringVar(&f.scopes, "scopes", "", `default scopes to register, space- or comma-separated (default: the 401 challenge's scope; "mcp.connect skills.read" for -o yaml)`)
	fs.StringVar(&f.clientName, "client-name", "", `the name on the consent page (default "ChatGPT (HANDLE)" or "ChatGPT (shared app)")`)
	fs.StringVar(&f.tokenAuthMethod, "token-endpoint-auth-method", "none", "none (public client with PKCE, what ChatGPT needs), client_secret_basic or client_secret_post")
	fs.StringVar(&f.clientID, "client-id", "", "repair this registered client instead of registering a new one")
	fs.StringVar(&f.registrationToken, "registration-access-token", "", "the registration access token of --client-id (or $"+tokenEnv+")")
	fs.BoolVar(&f.replace, "replace-redirect-uris", false, "with --client-id: replace the client's redirect URIs instead of adding to them")
	fs.StringVar(&f.name, "name", "", "-o yaml: the OAuthClient's name, which is its client_id (default HANDLE-chatgpt or gateway-chatgpt)")
	fs.StringVar(&f.output, "o", "text", "output: text, json, or yaml (an OAuthClient manifest; registers nothing)")
	fs.StringVar(&f.output, "output", "text", "same as -o")
	if code, ok := f.parse(fs, args); !ok {
		return code
	}
	if f.registrationToken == "" {
		f.registrationToken = os.Getenv(tokenEnv)
	}
	fail := func(err error) int {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "mcpctl %s: %s\nRun 'mcpctl %s --help' for the flags.\n", setupName, ue.msg, setupName)
			return exitUsage
		}
		fmt.Fprintf(stderr, "mcpctl %s: %v\n", setupName, err)
		return exitError
	}
	if fs.NArg() > 0 {
		return fail(usagef("unexpected argument %q", fs.Arg(0)))
	}
	t, err := f.validate()
	if err != nil {
		return fail(err)
	}
	for _, u := range f.redirectURIs {
		if !strings.HasPrefix(u, chatGPTCallbackPrefix) {
			fmt.Fprintf(stderr, "note: %s is not a ChatGPT connector callback (%s{callback_id}); registering it as given\n", u, chatGPTCallbackPrefix)
		}
	}
	if f.output == "yaml" {
		if err := f.writeManifest(stdout, t); err != nil {
			return fail(err)
		}
		return exitOK
	}

	ctx := context.Background()
	client, err := connect.New(connect.Options{Timeout: f.timeout, CAFile: f.caFile, UserAgent: "mcpctl"})
	if err != nil {
		return fail(usagef("--ca-file: %v", err))
	}
	res, err := f.connect(ctx, client, t, stderr)
	var mismatch *connect.IssuerMismatchError
	if errors.As(err, &mismatch) {
		warnWrongIssuer(stderr, mismatch)
		return exitWrongIssuer
	}
	if err != nil {
		fmt.Fprintf(stderr, "mcpctl %s: %v\n", setupName, err)
		if h := hint(err, t, f); h != "" {
			fmt.Fprintf(stderr, "hint: %s\n", h)
		}
		return exitError
	}
	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return exitOK
	}
	printText(stdout, res, t, f)
	return exitOK
}

// validate checks the flags and works out the target.
func (f *setupFlags) validate() (*target, error) {
	switch f.output {
	case "text", "json", "yaml":
	default:
		return nil, usagef("-o %q: must be text, json or yaml", f.output)
	}
	if len(f.redirectURIs) == 0 {
		return nil, usagef("at least one --redirect-uri is required: copy the exact callback URL ChatGPT shows for the connector (%s{callback_id}); there is no default callback", chatGPTCallbackPrefix)
	}
	var uris []string
	for _, u := range f.redirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return nil, usagef("--redirect-uri %q: %v", u, err)
		}
		if !slices.Contains(uris, u) {
			uris = append(uris, u)
		}
	}
	f.redirectURIs = uris
	if (f.clientID == "") != (f.registrationToken == "") {
		return nil, usagef("--client-id and --registration-access-token go together: the token returned when the client was registered authorizes its repair")
	}
	if f.replace && f.clientID == "" {
		return nil, usagef("--replace-redirect-uris needs --client-id and --registration-access-token")
	}
	if f.output == "yaml" && f.clientID != "" {
		return nil, usagef("-o yaml writes a new OAuthClient manifest; --client-id repairs a registered client: use one or the other")
	}
	switch f.tokenAuthMethod {
	case "none", "client_secret_basic", "client_secret_post":
	default:
		return nil, usagef("--token-endpoint-auth-method %q: must be none, client_secret_basic or client_secret_post", f.tokenAuthMethod)
	}
	if f.set["scopes"] {
		scopes := splitScopes(f.scopes)
		if len(scopes) == 0 {
			return nil, usagef("--scopes is empty")
		}
		for _, s := range scopes {
			if _, ok := v1alpha1.LookupScope(s); !ok {
				return nil, usagef("--scopes: unknown scope %q (mcpctl scopes lists them)", s)
			}
		}
	}

	t, err := f.target(f.output == "yaml")
	if err != nil {
		return nil, err
	}
	if t.issuer == "" && f.output != "yaml" {
		return nil, usagef("cannot tell which authorization server %s should advertise: pass --expected-issuer URL (or --base-domain)", t.url)
	}
	if f.name != "" {
		if msgs := validation.IsDNS1123Subdomain(f.name); len(msgs) > 0 {
			return nil, usagef("--name %q is not an object name: %s", f.name, strings.Join(msgs, "; "))
		}
	}
	return t, nil
}

// checkRedirectURI accepts an absolute https URL, exactly as it will be
// compared at authorization time: no spaces, fragment or user info, and
// already in the form a URL parser prints, so a stray character copied
// from a web page cannot make it silently differ from ChatGPT's.
func checkRedirectURI(raw string) error {
	if raw != strings.TrimSpace(raw) {
		return errors.New("has leading or trailing spaces")
	}
	if len(raw) > 2048 {
		return errors.New("is longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("is not a URL: %w", err)
	case u.Scheme != "https":
		return errors.New("must be an https URL: copy the exact callback URL ChatGPT shows")
	case u.Host == "" || u.Opaque != "":
		return errors.New("is not an absolute URL with a host")
	case u.User != nil:
		return errors.New("must not carry user information")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not contain a fragment")
	case u.String() != raw:
		return fmt.Errorf("is not in exact form (a parser reads it as %q): copy the callback URL exactly as ChatGPT shows it", u.String())
	}
	return nil
}

func splitScopes(s string) []string {
	var out []string
	for _, sc := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

func (f *setupFlags) clientNameFor(t *target) string {
	if f.clientName != "" {
		return f.clientName
	}
	if t.handle != "" {
		return "ChatGPT (" + t.handle + ")"
	}
	return "ChatGPT (shared app)"
}

// connect discovers, then registers or repairs.
func (f *setupFlags) connect(ctx context.Context, client *connect.Client, t *target, log io.Writer) (*setupResult, error) {
	fmt.Fprintf(log, "» POST %s without a token\n", t.url)
	d, err := client.Discover(ctx, t.url, connect.DiscoverOptions{ExpectedIssuer: t.issuer})
	if d.Probe != nil && d.Probe.Bearer != nil {
		fmt.Fprintf(log, "  %d, Bearer challenge: resource_metadata=%q scope=%q\n", d.Probe.Status, d.Probe.Bearer.ResourceMetadata, strings.Join(d.Probe.Bearer.Scope, " "))
	}
	if d.Resource != nil {
		source := "from the challenge"
		if !d.ResourceMetadataFromChallenge {
			source = "the well-known URL (the challenge named none)"
		}
		fmt.Fprintf(log, "» protected-resource metadata, %s: %s\n  resource %s, authorization servers %s\n", source, d.ResourceMetadataURL,
			d.Resource.Resource, strings.Join(d.Resource.AuthorizationServers, ", "))
	}
	if err != nil {
		return nil, err
	}
	as := d.AuthServer
	fmt.Fprintf(log, "» authorization-server metadata: %s\n  issuer %s, registration endpoint %s\n", d.AuthServerMetadataURL, as.Issuer, as.RegistrationEndpoint)
	if as.RegistrationEndpoint == "" {
		return nil, fmt.Errorf("%s offers no registration_endpoint: it does not support dynamic client registration (RFC 7591)", d.AuthServerMetadataURL)
	}
	if f.tokenAuthMethod == "none" && len(as.TokenEndpointAuthMethodsSupported) > 0 && !slices.Contains(as.TokenEndpointAuthMethodsSupported, "none") {
		return nil, fmt.Errorf("%s does not support public clients (token_endpoint_auth_methods_supported %q lacks none)", d.AuthServerMetadataURL, as.TokenEndpointAuthMethodsSupported)
	}

	var reg *connect.ClientRegistration
	action := "registered"
	if f.clientID != "" {
		action = "updated"
		reg, err = f.repair(ctx, client, d, t, log)
	} else {
		scopes := splitScopes(f.scopes)
		if !f.set["scopes"] {
			scopes = d.Probe.Bearer.Scope
		}
		md := connect.ClientMetadata{
			RedirectURIs: f.redirectURIs, ClientName: f.clientNameFor(t), TokenEndpointAuthMethod: f.tokenAuthMethod,
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			Scope: strings.Join(scopes, " "), Resource: d.Resource.Resource,
		}
		fmt.Fprintf(log, "» POST %s (RFC 7591) for %s\n", as.RegistrationEndpoint, strings.Join(f.redirectURIs, ", "))
		reg, err = client.Register(ctx, as.RegistrationEndpoint, md)
	}
	if err != nil {
		return nil, err
	}
	if missing := connect.MissingRedirectURIs(reg, f.redirectURIs); len(missing) > 0 {
		return nil, fmt.Errorf("client %s was %s but its redirect_uris lack %s", reg.ClientID, action, strings.Join(missing, ", "))
	}
	return &setupResult{
		MCPServerURL: t.url, AuthorizationServer: d.Issuer, ClientID: reg.ClientID, RedirectURIs: reg.RedirectURIs,
		DefaultScopes: strings.Fields(reg.Scope), Action: action, Resource: reg.Resource, TokenEndpointAuthMethod: reg.TokenEndpointAuthMethod,
		ClientSecret: reg.ClientSecret, RegistrationAccessToken: reg.RegistrationAccessToken, RegistrationClientURI: reg.RegistrationClientURI,
	}, nil
}

// repair reads the client with its registration access token and writes it
// back with the redirect URIs added or replaced (RFC 7592).
func (f *setupFlags) repair(ctx context.Context, client *connect.Client, d *connect.Discovery, t *target, log io.Writer) (*connect.ClientRegistration, error) {
	clientURI := connect.ClientURI(d.AuthServer.RegistrationEndpoint, f.clientID)
	fmt.Fprintf(log, "» GET %s (RFC 7592)\n", clientURI)
	cur, err := client.ReadClient(ctx, clientURI, f.registrationToken)
	if err != nil {
		return nil, err
	}
	compatOfSameHandle := t.compat && t.handle != "" && sameHandle(cur.Resource, t.handle)
	if cur.Resource != "" && cur.Resource != d.Resource.Resource && !compatOfSameHandle {
		return nil, fmt.Errorf("client %s is registered for %s, not %s: repair the client of this connector, or register a new one without --client-id", f.clientID, cur.Resource, d.Resource.Resource)
	}
	md := cur.ClientMetadata
	md.Resource = "" // the binding cannot change
	if f.replace {
		md.RedirectURIs = f.redirectURIs
	} else {
		for _, u := range f.redirectURIs {
			if !slices.Contains(md.RedirectURIs, u) {
				md.RedirectURIs = append(md.RedirectURIs, u)
			}
		}
	}
	if f.set["scopes"] {
		md.Scope = strings.Join(splitScopes(f.scopes), " ")
	}
	if f.set["client-name"] {
		md.ClientName = f.clientName
	}
	verb := "adding"
	if f.replace {
		verb = "replacing the redirect URIs with"
	}
	fmt.Fprintf(log, "» PUT %s (RFC 7592), %s %s\n", clientURI, verb, strings.Join(f.redirectURIs, ", "))
	reg, err := client.UpdateClient(ctx, clientURI, f.registrationToken, f.clientID, md)
	if err != nil {
		return nil, err
	}
	if cur.Resource != "" && reg.Resource == "" {
		reg.Resource = cur.Resource
	}
	return reg, nil
}

// sameHandle reports whether a hosted resource URL is the handle's.
func sameHandle(resource, handle string) bool {
	u, err := url.Parse(resource)
	return err == nil && strings.HasPrefix(strings.ToLower(u.Host), handle+".")
}

// warnWrongIssuer is the guide's legacy host case, loudly.
func warnWrongIssuer(w io.Writer, e *connect.IssuerMismatchError) {
	bar := strings.Repeat("!", 78)
	fmt.Fprintf(w, `%s
WARNING: WRONG OAUTH AUTHORIZATION SERVER. NOTHING WAS REGISTERED.

  %s
  advertises authorization_servers %s
  for %s,
  but this environment's issuer is %s.

The edge or runtime rollout is still serving stale auth metadata (a legacy
shared API host, for example): ChatGPT will not auto-populate the OAuth fields
correctly. Fix the protected-resource metadata the deployment serves, then run
this command again. If %s is not this environment's issuer,
pass --expected-issuer or --base-domain.
%s
`, bar, e.ResourceMetadataURL, strings.Join(e.Advertised, ", "), e.ResourceURL, e.Expected, e.Expected, bar)
}

// hint adds the guide's advice to a failure the guide names.
func hint(err error, t *target, f *setupFlags) string {
	var reqErr *connect.RequestError
	var statusErr *connect.StatusError
	switch {
	case errors.As(err, &reqErr) && reqErr.Kind == connect.FailureTLS && f.caFile == "":
		return "the server's certificate is not trusted; for the local stack pass --ca-file .local/tls.crt"
	case errors.As(err, &reqErr) && reqErr.Step == connect.StepProbe && t.handle != "" && !t.compat && f.serverURL == "":
		return "if the hosted URL's DNS or TLS is not ready yet (rollout), retry with --compat to use the compatibility URL temporarily"
	case errors.As(err, &statusErr) && statusErr.OAuthError == oautherr.HandleNotFound:
		return "no such handle: check the handle name (kubectl get handles)"
	case errors.As(err, &statusErr) && statusErr.OAuthError == oautherr.InvalidToken && statusErr.Step != connect.StepProbe:
		return "the registration access token does not match --client-id; it was printed when the client was registered"
	case errors.As(err, &statusErr) && statusErr.Step == connect.StepProbe && statusErr.Status == 404 && t.gateway:
		return "the shared gateway URL is not served here (sharedGateway.enabled is false?); use --handle"
	}
	return ""
}

// printText prints the guide's five values, then the repair credentials.
func printText(w io.Writer, r *setupResult, t *target, f *setupFlags) {
	row := func(label string, values ...string) {
		if len(values) == 0 {
			values = []string{"(none)"}
		}
		fmt.Fprintf(w, "%-28s%s\n", label+":", values[0])
		for _, v := range values[1:] {
			fmt.Fprintf(w, "%-28s%s\n", "", v)
		}
	}
	row("MCP server URL", r.MCPServerURL)
	row("OAuth authorization server", r.AuthorizationServer)
	row("Registered client_id", r.ClientID)
	row("Registered redirect URIs", r.RedirectURIs...)
	row("Default scopes", strings.Join(r.DefaultScopes, " "))
	if r.ClientSecret != "" {
		row("Client secret", r.ClientSecret)
	}
	if r.RegistrationAccessToken == "" {
		fmt.Fprintf(w, "\nClient %s %s.\n", r.ClientID, r.Action)
		if r.Action == "registered" {
			// The server answered an identical, not yet approved client.
			fmt.Fprintln(w, "No registration access token: an identical client not yet approved was registered before, and repairs need that registration's token.")
		}
		return
	}
	row("Registration access token", r.RegistrationAccessToken)
	// The same target flags, so the repair reaches the same client.
	var target []string
	switch {
	case f.serverURL != "":
		target = append(target, "--server-url", r.MCPServerURL)
	case t.gateway:
		target = append(target, "--gateway")
	default:
		target = append(target, "--handle", t.handle)
	}
	if f.set["base-domain"] {
		target = append(target, "--base-domain", f.baseDomain)
	}
	if f.compat {
		target = append(target, "--compat")
	}
	if f.expectedIssuer != "" {
		target = append(target, "--expected-issuer", f.expectedIssuer)
	}
	if f.caFile != "" {
		target = append(target, "--ca-file", f.caFile)
	}
	fmt.Fprintf(w, `
Keep the registration access token secret: it is shown once, and it repairs
this client when ChatGPT shows a new callback URL:
  mcpctl %s %s --client-id %s \
    --registration-access-token TOKEN --redirect-uri NEW_CALLBACK_URL
`, setupName, strings.Join(target, " "), r.ClientID)
}

// manifest is an OAuthClient as a GitOps repository holds it.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec v1alpha1.OAuthClientSpec `json:"spec"`
}

// writeManifest prints the OAuthClient for the target, without a request.
func (f *setupFlags) writeManifest(w io.Writer, t *target) error {
	if t.handle == "" && !t.gateway {
		return usagef("-o yaml needs the binding: pass --handle HANDLE or --gateway")
	}
	m := manifest{APIVersion: v1alpha1.GroupVersion.String(), Kind: "OAuthClient"}
	m.Metadata.Name = f.name
	if m.Metadata.Name == "" {
		m.Metadata.Name = "gateway-chatgpt"
		if t.handle != "" {
			m.Metadata.Name = t.handle + "-chatgpt"
		}
	}
	m.Spec = v1alpha1.OAuthClientSpec{Handle: t.handle, Gateway: t.gateway, ClientName: f.clientNameFor(t),
		TokenEndpointAuthMethod: v1alpha1.TokenEndpointAuthMethod(f.tokenAuthMethod)}
	for _, u := range f.redirectURIs {
		m.Spec.RedirectURIs = append(m.Spec.RedirectURIs, v1alpha1.RedirectURI(u))
	}
	scopes := []string{"mcp.connect", "skills.read"}
	if f.set["scopes"] {
		scopes = splitScopes(f.scopes)
	}
	for _, s := range scopes {
		m.Spec.DefaultScopes = append(m.Spec.DefaultScopes, v1alpha1.Scope(s))
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	binding := "the shared app URL " + t.url
	if t.handle != "" {
		binding = "handle " + t.handle + " (" + t.url + ")"
	}
	fmt.Fprintf(w, `# ChatGPT connector for %s.
# Written by mcpctl %s -o yaml; nothing was registered. Commit it to
# the GitOps repository or kubectl apply -f it: its client_id is its name, %s.
`, binding, setupName, m.Metadata.Name)
	_, err = w.Write(out)
	return err
}

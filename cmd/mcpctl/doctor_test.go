package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// Doctor's tests run on setup's runtime (stack) with a user who signs in,
// alice, a member of acme and of beta, whose tools are the example Links
// toolset. The guide's rows that need another deployment run on a second
// runtime (partialStack): the shared gateway disabled, and a certificate
// without the hosted names, as while a rollout is incomplete.

const (
	doctorPassword = "looking-glass"
	cbDoctor       = "https://chatgpt.com/connector/oauth/cb_doctor"
	cbUnlisted     = "https://chatgpt.com/connector/oauth/cb_doctor_unlisted"
)

var (
	doctorOnce sync.Once
	doctorErr  error
	partialOne sync.Once
	partial    *runtimeStack
)

// doctorStack is setup's runtime with alice and beta.
func doctorStack(t *testing.T) *runtimeStack {
	t.Helper()
	s := stack(t)
	doctorOnce.Do(func() { doctorErr = doctorFixture(t, s) })
	if doctorErr != nil {
		t.Fatal(doctorErr)
	}
	return s
}

func doctorFixture(t *testing.T, s *runtimeStack) error {
	ctx := context.Background()
	c := env.Client
	users := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: s.cfg.Namespace, Name: "mcp-users"}, users); err != nil {
		return err
	}
	users.Data = map[string][]byte{web.StaticUsersKey: fixtures.Users(fixtures.User("alice@example.com", doctorPassword))}
	if err := c.Update(ctx, users); err != nil {
		return err
	}
	// The upstream lives as long as the test binary, as the runtime does.
	links := testruntime.LinksUpstream(&suiteTB{t}, c, s.cfg.Namespace, s.cfg.Issuer)
	for _, o := range []ctrlclient.Object{
		&mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: "doctor-links"}, Spec: mcpv1alpha1.ToolsetSpec{URL: links.URL + "/mcp",
			Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{"links.read"}, Write: []mcpv1alpha1.Scope{"links.write"}}}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "beta"}, Spec: mcpv1alpha1.HandleSpec{
			Members:  []mcpv1alpha1.HandleMember{{User: "alice@example.com"}},
			Toolsets: []mcpv1alpha1.ToolsetReference{{Name: "doctor-links"}}}},
	} {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// partialStack is a second runtime with sharedGateway.enabled false and a
// certificate for localhost only: its hosted URLs fail TLS, its
// compatibility URLs work.
func partialStack(t *testing.T) *runtimeStack {
	t.Helper()
	doctorStack(t)
	partialOne.Do(func() { partial = startRuntimeWith(t, false, "localhost") })
	if partial == nil {
		t.Fatal("the second runtime did not start")
	}
	return partial
}

// doctor runs mcpctl doctor -o json against a stack and returns the exit
// code, the report and the text output of the same run for failures. The
// run goes into the transcript.
func (s *runtimeStack) doctor(t *testing.T, args ...string) (int, doctorReport, string) {
	t.Helper()
	code, rep, text := s.doctorUntranscribed(t, args...)
	transcript(t, append([]string{doctorName, "--ca-file", s.caFile}, args...), code, text)
	return code, rep, text
}

// doctorUntranscribed is doctor for runs that are retried until the stack
// is ready: only the run the test keeps goes into the transcript.
func (s *runtimeStack) doctorUntranscribed(t *testing.T, args ...string) (int, doctorReport, string) {
	t.Helper()
	args = append([]string{doctorName, "--ca-file", s.caFile}, args...)
	code, out, errOut := mcpctl(append(args, "-o", "json")...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("mcpctl %s: not JSON (%v): %s%s", strings.Join(args, " "), err, out, errOut)
	}
	_, text, _ := mcpctl(args...)
	return code, rep, text
}

var (
	transcriptMu   sync.Mutex
	transcriptRuns = map[string]int{}
)

// transcript appends the command and its text output to the file
// $MCPCTL_DOCTOR_TRANSCRIPT names, if any: docs/troubleshooting.md shows
// these runs. Each entry is headed "### TestName #N", N counting the test's
// transcribed runs from 1, so that a doc block names the run it shows.
// Tokens and the CA file's path are shortened in the command line; the
// output is as printed.
func transcript(t *testing.T, args []string, code int, text string) {
	t.Helper()
	path := os.Getenv("MCPCTL_DOCTOR_TRANSCRIPT")
	if path == "" {
		return
	}
	transcriptMu.Lock()
	defer transcriptMu.Unlock()
	transcriptRuns[t.Name()]++
	n := transcriptRuns[t.Name()]
	shown := []string{"mcpctl"}
	for i, a := range args {
		switch {
		case i > 0 && args[i-1] == "--ca-file":
			a = "$CA_FILE"
		case i > 0 && args[i-1] == "--session-id":
			a = "$SESSION_ID"
		case strings.HasPrefix(a, "mcpv1_") && len(a) > 20:
			a = "$TOKEN"
		case strings.HasPrefix(a, "mcpreg1_"):
			a = "$REGISTRATION_TOKEN"
		case a == "":
			a = "''"
		}
		shown = append(shown, a)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	fmt.Fprintf(f, "### %s #%d\n$ %s\n%s(exit %d)\n\n", t.Name(), n, strings.Join(shown, " "), text, code)
}

// rowIDs are the troubleshooting rows a report names.
func rowIDs(rep doctorReport) []string {
	var ids []string
	for _, r := range rep.Rows {
		ids = append(ids, r.ID)
	}
	return ids
}

// stepOf returns a step's check.
func stepOf(t *testing.T, rep doctorReport, step string) check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Step == step {
			return c
		}
	}
	t.Fatalf("no step %s in %+v", step, rep.Checks)
	return check{}
}

// wantRow checks that doctor failed, that the failures name exactly the
// row id, that the step named it, and that the text output prints the row
// in the guide's words.
func wantRow(t *testing.T, code int, rep doctorReport, text, step, id string) {
	t.Helper()
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	if got := rowIDs(rep); !slices.Equal(got, []string{id}) {
		t.Errorf("rows %v, want [%s]\n%s", got, id, text)
	}
	if c := stepOf(t, rep, step); c.Status != statusFail || c.Row == nil || c.Row.ID != id {
		t.Errorf("step %s: %+v, want FAIL naming %s\n%s", step, c, id, text)
	}
	row := guideRows[id]
	if !strings.Contains(text, "Troubleshooting: ") || !strings.Contains(text, "Likely cause: "+row.Cause) {
		t.Errorf("the text output does not print the row %q:\n%s", row.Symptom, text)
	}
}

// oauthToken registers nothing: it walks the authorization code flow for a
// registered client as alice (sign-in, consent, code exchange) against the
// stack's issuer and returns the mcpv1_ access token.
func (s *runtimeStack) oauthToken(t *testing.T, clientID, redirectURI, resource, scope string) string {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(s.caFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA %s: %v", s.caFile, err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, rawURL string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, rawURL, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	verifier := "doctor-test-verifier-" + strings.Repeat("x", 40)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "state": {"st"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {resource}, "scope": {scope}}
	resp, body := do("GET", s.issuer()+"/oauth/authorize?"+q.Encode(), nil)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?") {
		t.Fatalf("authorize: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, page := do("GET", s.issuer()+resp.Header.Get("Location"), nil)
	form := testruntime.FormFields(t, page)
	form.Set("email", "alice@example.com")
	form.Set("password", doctorPassword)
	resp, body = do("POST", s.issuer()+"/ui/login", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	_, page = do("GET", s.issuer()+resp.Header.Get("Location"), nil)
	form = testruntime.FormFields(t, page)
	form.Set("decision", "approve")
	resp, body = do("POST", s.issuer()+"/ui/consent", form)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("consent: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = do("POST", s.issuer()+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {clientID}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(tok.AccessToken, "mcpv1_") {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

// declared creates a declared public OAuthClient, as kubectl apply would
// (dynamic registration is rate-limited per address, and setup's tests
// register from the same one), and returns its client id.
func declared(t *testing.T, handle string, gateway bool) string {
	t.Helper()
	clients++
	id := fmt.Sprintf("doctor-%d-%d", time.Now().UnixNano()%1_000_000, clients)
	c := &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: id}, Spec: mcpv1alpha1.OAuthClientSpec{
		Handle: handle, Gateway: gateway, ClientName: "doctor test", TokenEndpointAuthMethod: mcpv1alpha1.TokenEndpointAuthNone,
		RedirectURIs: []mcpv1alpha1.RedirectURI{cbDoctor}}}
	if err := env.Client.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return id
}

var clients int

// connector declares a client for the handle and returns an access token
// for scope that it got through the authorization code flow.
func (s *runtimeStack) connector(t *testing.T, handle, scope string) string {
	t.Helper()
	id := declared(t, handle, false)
	return s.oauthToken(t, id, cbDoctor, s.hostedURL(handle), scope)
}

func (s *runtimeStack) hostedURL(handle string) string {
	return fmt.Sprintf("https://%s.mcp.localhost:%d/mcp", handle, s.port)
}

func TestDoctorPassesAWorkingConnector(t *testing.T) {
	s := doctorStack(t)
	// A client registered by setup, whose registration access token reads it.
	r := s.setup(t, "--base-domain", s.base(), "--handle", "beta", "--redirect-uri", cbDoctor)
	id, regToken := r.ClientID, r.RegistrationAccessToken
	token := s.oauthToken(t, id, cbDoctor, r.MCPServerURL, "mcp.connect skills.read links.read")
	args := []string{"--base-domain", s.base(), "--handle", "beta", "--client-id", id, "--redirect-uri", cbDoctor, "--token", token}
	// The toolset's tools appear once the runtime has listed the upstream.
	var code int
	var rep doctorReport
	var text string
	// The toolset's tools appear once the runtime has listed it; the
	// checks below say what the last run found.
	_ = waitfor.Poll(context.Background(), 15*time.Second, "doctor's tools-list", func() error {
		code, rep, text = s.doctorUntranscribed(t, args...)
		if c := stepOf(t, rep, "tools-list"); !slices.Contains(c.Detail, "3 tools") {
			return fmt.Errorf("%+v", c)
		}
		return nil
	})
	transcript(t, append([]string{doctorName, "--ca-file", s.caFile}, args...), code, text)
	if code != exitOK || rep.Failed != 0 || len(rep.Rows) != 0 {
		t.Fatalf("exit %d, %d failed, rows %v:\n%s", code, rep.Failed, rowIDs(rep), text)
	}
	for _, step := range []string{"dns-tls hosted", "dns-tls compatibility", "challenge", "resource-metadata", "authorization-server",
		"auth-server-metadata", "callback", "resource", "token", "scopes", "tools-list"} {
		if c := stepOf(t, rep, step); c.Status != statusPass {
			t.Errorf("%s: %+v", step, c)
		}
	}
	if c := stepOf(t, rep, "session"); c.Status != statusSkip {
		t.Errorf("session without --session-id: %+v", c)
	}
	tools := stepOf(t, rep, "tools-list")
	if !slices.Equal(tools.Detail, []string{"3 tools", "doctor-links_create_link, doctor-links_delete_link, doctor-links_list_links"}) {
		t.Errorf("tools-list: %v", tools.Detail)
	}
	challenge := stepOf(t, rep, "challenge")
	if want := fmt.Sprintf(`resource_metadata="https://beta.mcp.localhost:%d/.well-known/oauth-protected-resource/mcp"`, s.port); !strings.Contains(challenge.Detail[0], want) {
		t.Errorf("challenge: %v, want %s", challenge.Detail, want)
	}
	for _, want := range []string{"PASS  dns-tls hosted", "PASS  tools-list", "11 passed, 0 failed, 1 skipped."} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}

	// The callback read through RFC 7592 instead, the token from the
	// environment, the session the connector opened on this handle.
	c, err := connect.New(connect.Options{CAFile: s.caFile})
	if err != nil {
		t.Fatal(err)
	}
	init, err := c.CallMCP(context.Background(), s.hostedURL("beta"), token, "", "initialize", map[string]any{
		"protocolVersion": connect.ProtocolVersion, "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}})
	if err != nil || init.SessionID == "" {
		t.Fatalf("initialize: %v %+v", err, init)
	}
	t.Setenv(accessTokenEnv, token)
	code, rep, text = s.doctor(t, "--base-domain", s.base(), "--handle", "beta", "--client-id", id, "--redirect-uri", cbDoctor,
		"--registration-access-token", regToken, "--session-id", init.SessionID)
	if code != exitOK || rep.Failed != 0 || stepOf(t, rep, "session").Status != statusPass ||
		!strings.Contains(strings.Join(stepOf(t, rep, "callback").Detail, " "), "(RFC 7592)") {
		t.Fatalf("exit %d:\n%s", code, text)
	}
}

func TestDoctorRowMissingBearerToken(t *testing.T) {
	s := doctorStack(t)
	// A connector that never completed OAuth has no token: --token ''.
	code, rep, text := s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--token", "")
	wantRow(t, code, rep, text, "token", rowMissingBearer)
	if !strings.Contains(text, "Fix:          Re-open the connector and finish OAuth") {
		t.Errorf("text:\n%s", text)
	}
	// Without --token the step is skipped, and the unauthenticated 401 of
	// the challenge step is what is expected before OAuth: no failure.
	code, rep, text = s.doctor(t, "--base-domain", s.base(), "--handle", "acme")
	if code != exitOK || rep.Failed != 0 || stepOf(t, rep, "token").Status != statusSkip {
		t.Fatalf("no --token: exit %d\n%s", code, text)
	}
}

func TestDoctorRowInvalidTokenFormat(t *testing.T) {
	s := doctorStack(t)
	// A personal access token cached by the connector.
	code, rep, text := s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a")
	wantRow(t, code, rep, text, "token", rowInvalidFormat)
	// A forged mcpv1_ token is invalid_token, which has no row of its own.
	code, rep, text = s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--token", "mcpv1_forged")
	if c := stepOf(t, rep, "token"); code != exitError || c.Status != statusFail || c.Row != nil || len(rep.Rows) != 0 ||
		!strings.Contains(c.Hint, "re-authorize the connector") {
		t.Fatalf("forged token: exit %d\n%s", code, text)
	}
}

func TestDoctorRowSessionHandleMismatch(t *testing.T) {
	s := doctorStack(t)
	acmeToken := s.connector(t, "acme", "mcp.connect skills.read")
	betaToken := s.connector(t, "beta", "mcp.connect skills.read")
	c, err := connect.New(connect.Options{CAFile: s.caFile})
	if err != nil {
		t.Fatal(err)
	}
	// A session the connector opened on beta, then used on acme.
	init, err := c.CallMCP(context.Background(), s.hostedURL("beta"), betaToken, "", "initialize", map[string]any{
		"protocolVersion": connect.ProtocolVersion, "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}})
	if err != nil || init.SessionID == "" {
		t.Fatalf("initialize on beta: %v %+v", err, init)
	}
	code, rep, text := s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--token", acmeToken, "--session-id", init.SessionID)
	wantRow(t, code, rep, text, "session", rowSessionMismatch)
	if stepOf(t, rep, "token").Status != statusPass || stepOf(t, rep, "tools-list").Status != statusPass {
		t.Errorf("the token itself is fine:\n%s", text)
	}
	// beta's token on acme is token_handle_mismatch: no row of its own.
	code, rep, text = s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--token", betaToken)
	if c := stepOf(t, rep, "token"); code != exitError || c.Row != nil || !strings.Contains(strings.Join(c.Detail, " "), "token_handle_mismatch") {
		t.Fatalf("beta's token on acme: exit %d\n%s", code, text)
	}
}

func TestDoctorRowInsufficientScope(t *testing.T) {
	s := doctorStack(t)
	// mcp.connect opens a session; tools/list also needs skills.read.
	token := s.connector(t, "acme", "mcp.connect")
	code, rep, text := s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--token", token)
	wantRow(t, code, rep, text, "scopes", rowInsufficient)
	if c := stepOf(t, rep, "scopes"); !slices.Contains(c.Detail, "the challenge asks for scope mcp.connect skills.read") {
		t.Errorf("scopes: %v", c.Detail)
	}
	if stepOf(t, rep, "token").Status != statusPass || stepOf(t, rep, "tools-list").Status != statusSkip {
		t.Errorf("token and tools-list:\n%s", text)
	}
}

func TestDoctorRowCallbackNotAllowlisted(t *testing.T) {
	s := doctorStack(t)
	r := s.setup(t, "--base-domain", s.base(), "--handle", "acme", "--redirect-uri", cbDoctor)
	// The callback ChatGPT shows is not the one registered.
	code, rep, text := s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--client-id", r.ClientID, "--redirect-uri", cbUnlisted)
	wantRow(t, code, rep, text, "callback", rowCallback)
	if !strings.Contains(text, "re-run mcpctl setup-chatgpt-mcp-oauth --handle acme --base-domain "+s.base()+" --redirect-uri <exact-callback>") {
		t.Errorf("the fix is not adapted to mcpctl:\n%s", text)
	}
	// The same through RFC 7592.
	code, rep, text = s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--client-id", r.ClientID, "--redirect-uri", cbUnlisted,
		"--registration-access-token", r.RegistrationAccessToken)
	wantRow(t, code, rep, text, "callback", rowCallback)
	// The registered callback passes, and an unknown client is not this row.
	if code, _, text = s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--client-id", r.ClientID, "--redirect-uri", cbDoctor); code != exitOK {
		t.Fatalf("registered callback: exit %d\n%s", code, text)
	}
	code, rep, text = s.doctor(t, "--base-domain", s.base(), "--handle", "acme", "--client-id", "dcr-nosuchclient", "--redirect-uri", cbDoctor)
	if c := stepOf(t, rep, "callback"); code != exitError || c.Row != nil || !strings.Contains(c.Hint, "client_id is not registered") {
		t.Fatalf("unknown client: exit %d\n%s", code, text)
	}
}

func TestDoctorRowOAuthFieldsEmpty(t *testing.T) {
	// setup's stale edge: the resource advertises the legacy api.10x.in.
	mcpURL, caFile, _ := legacyServer(t)
	code, out, errOut := mcpctl(doctorName, "--ca-file", caFile, "--server-url", mcpURL, "-o", "json")
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s%s", err, out, errOut)
	}
	_, text, _ := mcpctl(doctorName, "--ca-file", caFile, "--server-url", mcpURL)
	transcript(t, []string{doctorName, "--ca-file", caFile, "--server-url", mcpURL}, code, text)
	wantRow(t, code, rep, text, "authorization-server", rowOAuthFields)
	if c := stepOf(t, rep, "authorization-server"); !strings.Contains(c.Detail[0], "advertises authorization_servers https://api.10x.in") ||
		!strings.Contains(c.Row.Fix, "This environment should advertise https://localhost:") {
		t.Errorf("authorization-server: %+v", c)
	}
	// The real runtime advertises its own issuer: right for its environment.
	s := doctorStack(t)
	if code, rep, text = s.doctor(t, "--base-domain", s.base(), "--handle", "acme"); stepOf(t, rep, "authorization-server").Status != statusPass {
		t.Fatalf("exit %d\n%s", code, text)
	}
}

func TestDoctorRowGatewayInvalidTarget(t *testing.T) {
	p := partialStack(t)
	ctx := context.Background()
	c, err := connect.New(connect.Options{CAFile: p.caFile})
	if err != nil {
		t.Fatal(err)
	}
	// A client bound to no resource yet, as the shared app's would be.
	reg, err := c.Register(ctx, p.issuer()+"/oauth/register", connect.ClientMetadata{RedirectURIs: []string{cbDoctor},
		TokenEndpointAuthMethod: "none", ClientName: "doctor gateway"})
	if err != nil {
		t.Fatal(err)
	}
	code, rep, text := p.doctor(t, "--base-domain", p.base(), "--gateway", "--client-id", reg.ClientID, "--redirect-uri", cbDoctor)
	wantRow(t, code, rep, text, "resource", rowGatewayTarget)
	if c := stepOf(t, rep, "callback"); c.Status != statusPass {
		t.Errorf("the callback is registered: %+v", c)
	}
	if !strings.Contains(text, "Troubleshooting: OAuth callback fails with invalid_target on "+p.issuer()+"/mcp") {
		t.Errorf("the symptom names another URL:\n%s", text)
	}

	// A client declared for the shared gateway gets the same answer here,
	// and passes where the shared gateway is deployed.
	gw := declared(t, "", true)
	if code, rep, text = p.doctor(t, "--base-domain", p.base(), "--gateway", "--client-id", gw, "--redirect-uri", cbDoctor); code != exitError ||
		stepOf(t, rep, "resource").Row == nil {
		t.Fatalf("declared gateway client, gateway disabled: exit %d\n%s", code, text)
	}
	s := doctorStack(t)
	if code, rep, text = s.doctor(t, "--base-domain", s.base(), "--gateway", "--client-id", gw, "--redirect-uri", cbDoctor); code != exitOK || len(rep.Rows) != 0 {
		t.Fatalf("enabled gateway: exit %d\n%s", code, text)
	}
}

func TestDoctorRowHostedFailsCompatWorks(t *testing.T) {
	p := partialStack(t)
	// The certificate has no *.mcp.localhost: the hosted URL fails TLS.
	code, rep, text := p.doctor(t, "--base-domain", p.base(), "--handle", "acme")
	wantRow(t, code, rep, text, "dns-tls hosted", rowHostedFails)
	if c := stepOf(t, rep, "dns-tls hosted"); !strings.Contains(c.Detail[0], "failed (tls)") {
		t.Errorf("hosted: %+v", c)
	}
	compat := p.issuer() + "/mcp/acme/mcp"
	if c := stepOf(t, rep, "challenge"); c.Status != statusPass || c.URL != compat {
		t.Errorf("the next steps use the compatibility URL: %+v", c)
	}
	if !strings.Contains(text, "Fix:          Use "+compat+" temporarily") {
		t.Errorf("the fix names another URL:\n%s", text)
	}
	if rep.Failed != 1 {
		t.Errorf("%d failures, want the hosted URL's only:\n%s", rep.Failed, text)
	}
}

func TestDoctorFlagErrors(t *testing.T) {
	cases := []struct {
		want string
		args []string
	}{
		{"one of --handle HANDLE, --gateway or --server-url URL is required", nil},
		{"--handle and --gateway are exclusive", []string{"--handle", "acme", "--gateway"}},
		{"--client-id and --redirect-uri go together", []string{"--handle", "acme", "--client-id", "dcr-x"}},
		{"must be an https URL", []string{"--handle", "acme", "--client-id", "dcr-x", "--redirect-uri", "http://chatgpt.com/cb"}},
		{"--session-id needs --token", []string{"--handle", "acme", "--session-id", "s"}},
		{`-o "yaml": must be text or json`, []string{"--handle", "acme", "-o", "yaml"}},
		{"--compat needs --handle", []string{"--gateway", "--compat"}},
	}
	t.Setenv(accessTokenEnv, "")
	os.Unsetenv(accessTokenEnv) //nolint:errcheck // restored by t.Setenv
	for _, c := range cases {
		code, out, errOut := mcpctl(append([]string{doctorName}, c.args...)...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
}

func TestDoctorTranscript(t *testing.T) {
	path := t.TempDir() + "/transcript.md"
	t.Setenv("MCPCTL_DOCTOR_TRANSCRIPT", path)
	transcript(t, []string{doctorName, "--ca-file", "/tmp/ca.crt", "--handle", "acme", "--token", "mcpv1_" + strings.Repeat("a", 30)}, exitError, "FAIL  token\n")
	transcript(t, []string{doctorName, "--ca-file", "/tmp/ca.crt", "--handle", "acme", "--token", "", "--session-id", "s1"}, exitOK, "PASS\n")
	t.Run("case", func(t *testing.T) {
		transcript(t, []string{doctorName, "--ca-file", "/tmp/ca.crt", "--registration-access-token", "mcpreg1_x"}, exitOK, "PASS\n")
	})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "### TestDoctorTranscript #1\n$ mcpctl doctor --ca-file $CA_FILE --handle acme --token $TOKEN\nFAIL  token\n(exit 1)\n\n" +
		"### TestDoctorTranscript #2\n$ mcpctl doctor --ca-file $CA_FILE --handle acme --token '' --session-id $SESSION_ID\nPASS\n(exit 0)\n\n" +
		"### TestDoctorTranscript/case #1\n$ mcpctl doctor --ca-file $CA_FILE --registration-access-token $REGISTRATION_TOKEN\nPASS\n(exit 0)\n\n"
	if string(b) != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", b, want)
	}
}

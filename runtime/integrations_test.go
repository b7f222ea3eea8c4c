package runtime_test

import (
	"context"
	"html"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

// Attacker-controlled strings: a dynamically registered client chooses its
// name and redirect URIs.
const (
	hostileName     = `<script>alert("pwned")</script> Evil "Connector"`
	hostileRedirect = `https://chatgpt.com/connector/oauth/cb_initech?x="><img src=x onerror=alert(1)>`
)

// integrationsFixture creates the users, handles, clients and grants of the
// MCP & Tools page tests and returns the grant names by owner.
func integrationsFixture(t *testing.T, s *stack) map[string]string {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	var users []web.StaticUser
	for _, u := range []string{"ada@initech.example", "bob@initech.example", "carol@initech.example", "eve@umbrella.example", "zed@nowhere.example"} {
		users = append(users, fixtures.User(u, password))
	}
	objs := []ctrlclient.Object{
		fixtures.UsersSecretIn(s.cfg.Namespace, "mcp-users-integrations", users...),
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "initech"}, Spec: mcpv1alpha1.HandleSpec{DisplayName: "Initech <Corp>",
			Members: []mcpv1alpha1.HandleMember{
				{User: "ada@initech.example", Role: mcpv1alpha1.MemberRoleAdmin},
				{User: "bob@initech.example"},
				{User: "carol@initech.example", Role: mcpv1alpha1.MemberRoleViewer},
			}}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "hooli"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{User: "bob@initech.example"}}}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "umbrella"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{User: "ada@initech.example", Role: mcpv1alpha1.MemberRoleAdmin}, {User: "eve@umbrella.example"}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "initech-evil"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "initech", ClientName: hostileName, Registration: mcpv1alpha1.RegistrationDynamic,
			RedirectURIs:  []mcpv1alpha1.RedirectURI{hostileRedirect, "https://chatgpt.com/connector/oauth/cb_second"},
			DefaultScopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.read"}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "integrations-shared"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Gateway: true, ClientName: "Shared ChatGPT app", RedirectURIs: []mcpv1alpha1.RedirectURI{"https://chatgpt.com/connector/oauth/cb_shared"}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "umbrella-claude"}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: "umbrella", ClientName: "Claude for Umbrella", RedirectURIs: []mcpv1alpha1.RedirectURI{"https://claude.ai/api/mcp/auth_callback"}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	// hooli's status carries endpoints (as the operator writes them): the
	// page shows those values rather than computing its own.
	hooli := &mcpv1alpha1.Handle{}
	if err := c.Get(ctx, ctrlclient.ObjectKey{Name: "hooli"}, hooli); err != nil {
		t.Fatal(err)
	}
	hooli.Status.Endpoints = &mcpv1alpha1.HandleEndpoints{Hosted: "https://hooli.mcp.10x.in:8443/mcp", Compatibility: "https://ai.10x.in:8443/mcp/hooli/mcp"}
	if err := c.Status().Update(ctx, hooli); err != nil {
		t.Fatal(err)
	}

	store := &grants.Store{Client: c, Reader: c, CodeTTL: time.Minute, Now: time.Now}
	client := func(name string) *mcpv1alpha1.OAuthClient {
		oc := &mcpv1alpha1.OAuthClient{}
		if err := c.Get(ctx, ctrlclient.ObjectKey{Name: name}, oc); err != nil {
			t.Fatal(err)
		}
		return oc
	}
	create := func(oc *mcpv1alpha1.OAuthClient, handle, email string) string {
		code, err := store.Create(ctx, grants.Request{Client: oc, Handle: handle, Subject: "static#" + email, Email: email,
			Resource: "https://" + handle + ".mcp.10x.in/mcp", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read"},
			CodeChallenge: strings.Repeat("c", 43), RedirectURI: string(oc.Spec.RedirectURIs[0])})
		if err != nil {
			t.Fatal(err)
		}
		name, _ := tokens.ParseOpaque(tokens.CodePrefix, code)
		return name
	}
	document := &mcpv1alpha1.OAuthClient{Spec: mcpv1alpha1.OAuthClientSpec{Registration: mcpv1alpha1.RegistrationMetadataDocument,
		MetadataDocumentURL: "https://app.example/oauth/client.json", RedirectURIs: []mcpv1alpha1.RedirectURI{"https://app.example/cb"}}}
	g := map[string]string{
		"bob":      create(client("initech-evil"), "initech", "bob@initech.example"),
		"carol":    create(client("integrations-shared"), "initech", "carol@initech.example"),
		"ada":      create(document, "initech", "ada@initech.example"),
		"umbrella": create(client("umbrella-claude"), "umbrella", "ada@initech.example"),
		"eve":      create(client("umbrella-claude"), "umbrella", "eve@umbrella.example"),
	}
	if err := store.RecordDiscovery(ctx, g["bob"], 7, nil); err != nil {
		t.Fatal(err)
	}
	return g
}

// signInTo signs in on the login page of the MCP & Tools page, in a fresh
// cookie jar, and returns the page.
func (s *stack) signInTo(t *testing.T, email string) string {
	t.Helper()
	s.jar, _ = cookiejar.New(nil)
	resp, body := s.do(t, "GET", "https://ai.10x.in/ui/integrations", nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/login?next=%2Fui%2Fintegrations" {
		t.Fatalf("without a session: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, page := s.do(t, "GET", "https://ai.10x.in"+resp.Header.Get("Location"), nil)
	form := pageLoginFields(t, page)
	form.Set("email", email)
	form.Set("password", "wrong")
	resp, page = s.do(t, "POST", "https://ai.10x.in/ui/login", form)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "The email or password is wrong.") {
		t.Fatalf("a wrong password: %d", resp.StatusCode)
	}
	// The form shown again carries a new CSRF token.
	form = pageLoginFields(t, page)
	form.Set("email", email)
	form.Set("password", password)
	resp, body = s.do(t, "POST", "https://ai.10x.in/ui/login", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/integrations" {
		t.Fatalf("login: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return s.integrationsPage(t)
}

// pageLoginFields reads the hidden fields of the login form of a sign-in
// that returns to the page.
func pageLoginFields(t *testing.T, page string) url.Values {
	t.Helper()
	form := url.Values{}
	for _, m := range regexp.MustCompile(`name="(next|csrf)" value="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("next") != "/ui/integrations" || form.Get("csrf") == "" || strings.Contains(page, `name="req"`) {
		t.Fatalf("login form of the page: %v\n%s", form, page)
	}
	return form
}

func (s *stack) integrationsPage(t *testing.T) string {
	t.Helper()
	resp, page := s.do(t, "GET", "https://ai.10x.in/ui/integrations", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("MCP & Tools page: %d %s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "default-src 'none'") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page's headers differ from the consent page's: %v", resp.Header)
	}
	return page
}

// section returns the part of the page about one handle.
func section(page, handle string) string {
	start := strings.Index(page, `<section id="handle-`+handle+`"`)
	if start < 0 {
		return ""
	}
	end := strings.Index(page[start:], "</section>")
	return page[start : start+end]
}

func dataValue(t *testing.T, part, attr string) string {
	t.Helper()
	m := regexp.MustCompile(attr + `>([^<]*)<`).FindStringSubmatch(part)
	if m == nil {
		t.Fatalf("no %s in\n%s", attr, part)
	}
	return html.UnescapeString(m[1])
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// sessionCSRF returns a valid CSRF token of the signed-in session, as any
// user can get one from a page with a form (here the consent page): a
// viewer's MCP & Tools page has none, since it is read-only.
func (s *stack) sessionCSRF(t *testing.T) string {
	t.Helper()
	_, challenge := pkce()
	_, page := s.do(t, "GET", authorizeURL(challenge, url.Values{"client_id": {"initech-evil"},
		"redirect_uri": {"https://chatgpt.com/connector/oauth/cb_second"}, "resource": {"https://initech.mcp.10x.in/mcp"}}), nil)
	return testruntime.FormFields(t, page).Get("csrf")
}

func (s *stack) revoke(t *testing.T, grant, csrf string) int {
	t.Helper()
	form := url.Values{"grant": {grant}}
	if csrf != "" {
		form.Set("csrf", csrf)
	}
	resp, _ := s.do(t, "POST", "https://ai.10x.in/ui/integrations/revoke", form)
	return resp.StatusCode
}

func TestIntegrationsPage(t *testing.T) {
	s := newStack(t, func(srv *runtime.Server) {
		srv.Users = web.StaticUsers{Reader: env.Client, Namespace: srv.Config.Namespace, Name: "mcp-users-integrations"}
	})
	g := integrationsFixture(t, s)

	// Only the gateway host serves the page.
	if resp, _ := s.do(t, "GET", "https://initech.mcp.10x.in/ui/integrations", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the page on a hosted host: %d", resp.StatusCode)
	}
	// Sign-in returns to nothing but the runtime's own pages.
	if resp, _ := s.do(t, "GET", "https://ai.10x.in/ui/login?next=https://evil.example/", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("login with an outside next: %d", resp.StatusCode)
	}

	// bob: a Viewer of initech and hooli, nothing on umbrella.
	page := s.signInTo(t, "bob@initech.example")
	if section(page, "initech") == "" || section(page, "hooli") == "" || section(page, "umbrella") != "" || section(page, "acme") != "" ||
		strings.Contains(page, "Claude for Umbrella") || strings.Contains(page, g["umbrella"]) {
		t.Fatalf("bob sees other handles than his own:\n%s", page)
	}
	initech := section(page, "initech")
	for attr, want := range map[string]string{
		`data-url="hosted"`:        "https://initech.mcp.10x.in/mcp",
		`data-url="gateway"`:       "https://ai.10x.in/mcp",
		`data-url="compatibility"`: "https://ai.10x.in/mcp/initech/mcp",
		`data-command`:             "mcpctl setup-chatgpt-mcp-oauth --handle initech --redirect-uri https://chatgpt.com/connector/oauth/<callback_id>",
		`data-role`:                "Viewer",
	} {
		if got := dataValue(t, initech, attr); got != want {
			t.Errorf("initech %s = %q, want %q", attr, got, want)
		}
	}
	hooli := section(page, "hooli")
	if got := dataValue(t, hooli, `data-url="hosted"`); got != "https://hooli.mcp.10x.in:8443/mcp" {
		t.Errorf("hooli's hosted URL %q is not its status.endpoints.hosted", got)
	}
	if got := dataValue(t, hooli, `data-url="compatibility"`); got != "https://ai.10x.in:8443/mcp/hooli/mcp" || strings.Contains(hooli, `data-url="gateway"`) {
		t.Errorf("hooli's URLs are not its status.endpoints: %q\n%s", got, hooli)
	}

	// Connectors: the client bound to initech with its redirect URIs and
	// default scopes, and those only its grants name (a shared-app client, a
	// metadata document client).
	for _, want := range []string{
		`data-client-id="initech-evil"`, html.EscapeString(hostileName), html.EscapeString(hostileRedirect),
		"<code>https://chatgpt.com/connector/oauth/cb_second</code>", "<code>links.read</code>",
		`data-client-id="integrations-shared"`, "Shared ChatGPT app", "the shared app URL",
		`data-client-id="https://app.example/oauth/client.json"`, "in the client ID metadata document",
	} {
		if !strings.Contains(initech, want) {
			t.Errorf("initech's section lacks %s:\n%s", want, initech)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img src=x") || strings.Contains(page, "Initech <Corp>") {
		t.Errorf("client-supplied markup is not escaped:\n%s", page)
	}
	if !strings.Contains(page, "Initech &lt;Corp&gt;") {
		t.Errorf("the display name is missing or unescaped")
	}

	// Grants: all three of initech, with the bootstrap result; bob, not an
	// Admin, revokes none, his own included.
	for who, name := range map[string]string{"bob": g["bob"], "carol": g["carol"], "ada": g["ada"]} {
		if !strings.Contains(initech, `id="grant-`+name+`"`) {
			t.Errorf("%s's grant %s is not listed", who, name)
		}
	}
	bobRow := row(initech, g["bob"])
	if dataValue(t, bobRow, "data-tools") != "7" || !strings.Contains(bobRow, "ToolsDiscovered") || !strings.Contains(bobRow, "(you)") ||
		strings.Contains(bobRow, "<form") || !strings.Contains(bobRow, "read-only") {
		t.Errorf("bob's grant row:\n%s", bobRow)
	}
	if r := row(initech, g["carol"]); strings.Contains(r, "<form") || !strings.Contains(r, "read-only") || !strings.Contains(r, "carol@initech.example") {
		t.Errorf("bob may revoke carol's grant, or it lacks its user:\n%s", r)
	}

	bobCSRF := s.sessionCSRF(t)
	if code := s.revoke(t, g["carol"], bobCSRF); code != http.StatusForbidden || !grantExists(t, g["carol"]) {
		t.Errorf("bob revoking carol's grant: %d, exists %v", code, grantExists(t, g["carol"]))
	}
	if code := s.revoke(t, g["bob"], ""); code != http.StatusForbidden || !grantExists(t, g["bob"]) {
		t.Errorf("revoking without a CSRF token: %d", code)
	}
	if code := s.revoke(t, g["bob"], "forged"); code != http.StatusForbidden || !grantExists(t, g["bob"]) {
		t.Errorf("revoking with a forged CSRF token: %d", code)
	}
	if code := s.revoke(t, g["bob"], bobCSRF); code != http.StatusForbidden || !grantExists(t, g["bob"]) {
		t.Fatalf("bob revoking his own grant: %d, exists %v", code, grantExists(t, g["bob"]))
	}

	// zed: a member of nothing sees no handle.
	page = s.signInTo(t, "zed@nowhere.example")
	if strings.Contains(page, "<section id=\"handle-") || !strings.Contains(page, "You are not a member of any handle") {
		t.Errorf("zed sees handles:\n%s", page)
	}
	if got := dataValue(t, page, `data-command="gateway"`); got != "mcpctl setup-chatgpt-mcp-oauth --gateway --redirect-uri https://chatgpt.com/connector/oauth/<callback_id>" {
		t.Errorf("the shared app command: %q", got)
	}

	// eve: a Viewer of umbrella only, with a valid token of her own session,
	// revokes nothing on initech nor ada's grant on umbrella.
	page = s.signInTo(t, "eve@umbrella.example")
	if section(page, "umbrella") == "" || section(page, "initech") != "" || !strings.Contains(row(section(page, "umbrella"), g["umbrella"]), "read-only") {
		t.Errorf("eve's page:\n%s", page)
	}
	eveCSRF := s.sessionCSRF(t)
	if code := s.revoke(t, g["carol"], eveCSRF); code != http.StatusForbidden || !grantExists(t, g["carol"]) {
		t.Errorf("eve revoking carol's grant on initech: %d", code)
	}
	if code := s.revoke(t, g["umbrella"], eveCSRF); code != http.StatusForbidden || !grantExists(t, g["umbrella"]) {
		t.Errorf("eve revoking ada's grant on umbrella: %d", code)
	}

	// ada: an Admin of initech may revoke anyone's grant there; bob's CSRF
	// token is not valid with her session.
	page = s.signInTo(t, "ada@initech.example")
	if dataValue(t, section(page, "initech"), "data-role") != "Admin" || section(page, "umbrella") == "" {
		t.Errorf("ada's page:\n%s", page)
	}
	if r := row(section(page, "initech"), g["carol"]); !strings.Contains(r, "<form") {
		t.Errorf("an admin has no revoke button on carol's grant:\n%s", r)
	}
	if code := s.revoke(t, g["carol"], bobCSRF); code != http.StatusForbidden || !grantExists(t, g["carol"]) {
		t.Errorf("another session's CSRF token: %d", code)
	}
	if code := s.revoke(t, g["carol"], csrfOf(t, page)); code != http.StatusSeeOther || grantExists(t, g["carol"]) {
		t.Errorf("an admin revoking carol's grant: %d, exists %v", code, grantExists(t, g["carol"]))
	}
	if code := s.revoke(t, g["carol"], csrfOf(t, page)); code != http.StatusNotFound {
		t.Errorf("revoking a grant twice: %d", code)
	}
	if code := s.revoke(t, g["bob"], csrfOf(t, page)); code != http.StatusSeeOther || grantExists(t, g["bob"]) {
		t.Errorf("an admin revoking bob's grant: %d, exists %v", code, grantExists(t, g["bob"]))
	}
	if page = s.integrationsPage(t); strings.Contains(page, `id="grant-`+g["bob"]+`"`) {
		t.Errorf("a revoked grant is still listed")
	}
}

// row returns a grant's table row.
func row(part, grant string) string {
	start := strings.Index(part, `<tr id="grant-`+grant+`"`)
	if start < 0 {
		return ""
	}
	end := strings.Index(part[start:], "</tr>")
	return part[start : start+end]
}

// TestIntegrationsPageOIDCSignIn signs in to the page through a real OpenID
// Connect provider (mockoidc): the provider's answer returns to the page,
// not to a consent, and the user's group makes them a member.
func TestIntegrationsPageOIDCSignIn(t *testing.T) {
	ctx := context.Background()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	c := env.Client
	objs := []ctrlclient.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mcp-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp-oidc-pages", Namespace: "mcp-system"}, Data: map[string][]byte{"client-secret": []byte(m.ClientSecret)}},
		// mockoidc's default user is in the group "design".
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "design-studio"}, Spec: mcpv1alpha1.HandleSpec{
			Members: []mcpv1alpha1.HandleMember{{Group: "design", Role: mcpv1alpha1.MemberRoleAdmin}}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	s := newStack(t, func(srv *runtime.Server) {
		cfg := *srv.Config
		cfg.SignIn.OIDC = &platform.OIDCSignIn{IssuerURL: m.Issuer(), ClientID: m.ClientID, ClientSecretRef: platform.SecretKeyRef{Name: "mcp-oidc-pages", Key: "client-secret"},
			Scopes: []string{"openid", "email", "groups"}, GroupsClaim: "groups", DisplayName: "Mock IdP"}
		secret := web.SecretValue{Reader: c, Namespace: cfg.Namespace, Name: "mcp-oidc-pages", Key: "client-secret"}
		srv.OIDC = web.NewOIDC(&cfg, secret.Get, nil)
	})
	resp, _ := s.do(t, "GET", "https://ai.10x.in/ui/integrations", nil)
	_, page := s.do(t, "GET", "https://ai.10x.in"+resp.Header.Get("Location"), nil)
	link := oidcStartLink.FindStringSubmatch(page)
	if link == nil || html.UnescapeString(link[1]) != "/ui/oidc/start?next=%2Fui%2Fintegrations" {
		t.Fatalf("the page's login offers no provider sign-in that returns to it:\n%s", page)
	}
	if resp, _ := s.do(t, "GET", "https://ai.10x.in/ui/oidc/start?next=https%3A%2F%2Fevil.example%2F", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a provider sign-in returning elsewhere: %d", resp.StatusCode)
	}
	resp, body := s.do(t, "GET", "https://ai.10x.in"+html.UnescapeString(link[1]), nil)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), m.AuthorizationEndpoint()+"?") {
		t.Fatalf("start: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	up, err := hc.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	_ = up.Body.Close()
	resp, body = s.do(t, "GET", up.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/integrations" {
		t.Fatalf("callback: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	page = s.integrationsPage(t)
	if !strings.Contains(page, "Signed in as jane.doe@example.com") || dataValue(t, section(page, "design-studio"), "data-role") != "Admin" {
		t.Fatalf("the page after a provider sign-in:\n%s", page)
	}
}

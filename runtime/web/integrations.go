package web

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
)

// IntegrationsPath is the "Integrations -> MCP & Tools" page;
// IntegrationsRevokePath takes its revoke buttons.
const (
	IntegrationsPath       = "/ui/integrations"
	IntegrationsRevokePath = "/ui/integrations/revoke"
)

// chatGPTCallback is the placeholder of the connector's exact callback in the
// command the page prints: there is no default callback.
const chatGPTCallback = "https://chatgpt.com/connector/oauth/<callback_id>"

// defaultBaseDomain is the environment mcpctl targets without
// --base-domain: production.
const defaultBaseDomain = "10x.in"

// Directory reads what the MCP & Tools page shows, through the same readers
// as the flow (the informer cache in production).
type Directory interface {
	Handles
	OAuthClients(ctx context.Context) ([]mcpv1alpha1.OAuthClient, error)
	HandleGrants(ctx context.Context, handle string) ([]mcpv1alpha1.Connection, error)
	Grant(ctx context.Context, name string) (*mcpv1alpha1.Connection, error)
}

// Integrations is the "Integrations -> MCP & Tools" page: for each handle of
// the signed-in member, its MCP URLs, its connectors, its grants with a
// revoke button, and the command that registers a new connector. It shares
// the flow's sign-in, session, CSRF tokens and headers.
type Integrations struct {
	Flow      *Flow
	Directory Directory
}

// integrationsPage is the page's data.
type integrationsPage struct {
	Title, Email, CSRF string
	Wide               bool
	Revoked            string
	// GatewayURL is the shared app URL, "" when the shared gateway is off.
	GatewayURL, GatewayCommand string
	Handles                    []handleView
}

type handleView struct {
	Name, DisplayName, Role string
	Admin, Suspended        bool
	Endpoints               mcpv1alpha1.HandleEndpoints
	// EndpointsSource says where the URLs come from: the Handle's status,
	// or the platform configuration before the operator has written it.
	EndpointsSource string
	Command         string
	Connectors      []connectorView
	Grants          []grantView
}

type connectorView struct {
	Name, ClientID, Registration, Binding string
	RedirectURIs                          []mcpv1alpha1.RedirectURI
	DefaultScopes, AllowedScopes          []mcpv1alpha1.Scope
	DefaultScopesImplied                  bool
	Confidential                          bool
	// Document is true for a client ID metadata document client that no
	// OAuthClient declares: its name and redirect URIs are in the document.
	Document bool
}

type grantView struct {
	Name, ClientName, ClientID, Email string
	Scopes                            []mcpv1alpha1.Scope
	State                             string
	Ready, ReadyReason, ReadyMessage  string
	Tools, LastDiscovery, LastError   string
	Created                           time.Time
	Own, CanRevoke                    bool
}

// Page serves GET /ui/integrations; without a session it sends the browser
// to sign in and back.
func (p *Integrations) Page(w http.ResponseWriter, r *http.Request) {
	f := p.Flow
	s := readSession(r, f.Keys.Keys(), f.Now())
	if s == nil {
		secureHeaders(w)
		http.Redirect(w, r, "/ui/login?"+url.Values{"next": {IntegrationsPath}}.Encode(), http.StatusFound)
		return
	}
	if p.Directory == nil {
		errorPage(w, http.StatusNotFound, oautherr.InvalidRequest, "this runtime does not serve the MCP & Tools page")
		return
	}
	page, err := p.build(r.Context(), s)
	if err != nil {
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "your handles could not be read; retry shortly")
		return
	}
	page.Revoked = r.URL.Query().Get("revoked")
	render(w, http.StatusOK, "integrations.html", page)
}

// Revoke serves POST /ui/integrations/revoke: a handle Admin may revoke any
// grant of the handle; the grant is deleted through
// the grant store, which revokes its tokens on every replica.
func (p *Integrations) Revoke(w http.ResponseWriter, r *http.Request) {
	f := p.Flow
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "the form could not be read")
		return
	}
	s := readSession(r, f.Keys.Keys(), f.Now())
	if s == nil || !validCSRF(f.Keys.Keys(), r.PostForm.Get("csrf"), s.Nonce, f.Now()) {
		errorPage(w, http.StatusForbidden, oautherr.InvalidRequest, "the form expired or was not sent from this site; open MCP & Tools again")
		return
	}
	name := r.PostForm.Get("grant")
	if name == "" || len(name) > 253 {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "name the grant to revoke")
		return
	}
	// Read the grant from the apiserver: it may have been created on
	// another replica a moment ago.
	conn := &mcpv1alpha1.Connection{}
	if err := f.Grants.Reader.Get(r.Context(), types.NamespacedName{Name: name}, conn); err != nil {
		if apierrors.IsNotFound(err) {
			errorPage(w, http.StatusNotFound, oautherr.InvalidRequest, "this grant does not exist or was already revoked")
			return
		}
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the grant could not be read; retry shortly")
		return
	}
	h, err := p.Directory.Handle(r.Context(), conn.Spec.Handle)
	if err != nil {
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the handle could not be read; retry shortly")
		return
	}
	if !mayRevoke(h, s, conn) {
		errorPage(w, http.StatusForbidden, oautherr.AccessDenied, "only an Admin of the handle "+conn.Spec.Handle+" may revoke its grants")
		return
	}
	if err := f.Grants.Revoke(r.Context(), name); err != nil {
		errorPage(w, http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the grant could not be revoked; retry shortly")
		return
	}
	p.awaitGone(r.Context(), name)
	secureHeaders(w)
	http.Redirect(w, r, IntegrationsPath+"?"+url.Values{"revoked": {name}}.Encode()+"#handle-"+conn.Spec.Handle, http.StatusSeeOther)
}

// awaitGone waits, briefly, until the page's reader no longer sees a
// revoked grant, so the page the browser is sent back to does not list it.
func (p *Integrations) awaitGone(ctx context.Context, name string) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := p.Directory.Grant(ctx, name)
		if err == nil && (conn == nil || conn.DeletionTimestamp != nil) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// mayRevoke: an Admin of the grant's handle; the page is read-only for
// everyone else, the grant's own user included (they disconnect from their
// MCP client, which revokes through /oauth/revoke).
func mayRevoke(h *mcpv1alpha1.Handle, s *Session, conn *mcpv1alpha1.Connection) bool {
	return h != nil && h.Name == conn.Spec.Handle && memberRole(h, s) == mcpv1alpha1.MemberRoleAdmin
}

// memberRole returns the user's role on a handle: Admin when any member
// entry that matches them says so, Viewer when only others match, "" when
// they are not a member.
func memberRole(h *mcpv1alpha1.Handle, s *Session) mcpv1alpha1.MemberRole {
	var role mcpv1alpha1.MemberRole
	for _, m := range h.Spec.Members {
		if !matches(m, s) {
			continue
		}
		if m.Role == mcpv1alpha1.MemberRoleAdmin {
			return mcpv1alpha1.MemberRoleAdmin
		}
		role = mcpv1alpha1.MemberRoleViewer
	}
	return role
}

// build reads the handles the user is a member of, their connectors and
// grants.
func (p *Integrations) build(ctx context.Context, s *Session) (*integrationsPage, error) {
	f := p.Flow
	cfg := f.Config
	page := &integrationsPage{Title: "Integrations → MCP & Tools", Email: s.Email, Wide: true,
		CSRF: csrfToken(f.Keys.Keys(), s.Nonce, f.Now())}
	if gw := cfg.GatewayURL(); gw != "" {
		page.GatewayURL = gw
		page.GatewayCommand = setupCommand(cfg, "--gateway", gw)
	}
	all, err := p.Directory.List(ctx)
	if err != nil {
		return nil, err
	}
	var mine []*mcpv1alpha1.Handle
	for i := range all {
		if memberRole(&all[i], s) != "" {
			mine = append(mine, &all[i])
		}
	}
	if len(mine) == 0 {
		return page, nil
	}
	clients, err := p.Directory.OAuthClients(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*mcpv1alpha1.OAuthClient, len(clients))
	for i := range clients {
		byID[clients[i].ClientID()] = &clients[i]
	}
	slices.SortFunc(mine, func(a, b *mcpv1alpha1.Handle) int { return strings.Compare(a.Name, b.Name) })
	for _, h := range mine {
		conns, err := p.Directory.HandleGrants(ctx, h.Name)
		if err != nil {
			return nil, err
		}
		page.Handles = append(page.Handles, p.handleView(h, s, clients, byID, conns))
	}
	return page, nil
}

func (p *Integrations) handleView(h *mcpv1alpha1.Handle, s *Session, clients []mcpv1alpha1.OAuthClient,
	byID map[string]*mcpv1alpha1.OAuthClient, conns []mcpv1alpha1.Connection) handleView {
	cfg := p.Flow.Config
	role := memberRole(h, s)
	v := handleView{Name: h.Name, DisplayName: h.Spec.DisplayName, Role: string(role),
		Admin: role == mcpv1alpha1.MemberRoleAdmin, Suspended: h.Spec.Suspended}
	if v.DisplayName == "" {
		v.DisplayName = h.Name
	}
	if e := h.Status.Endpoints; e != nil && e.Hosted != "" {
		v.Endpoints, v.EndpointsSource = *e, "the Handle's status"
	} else {
		v.Endpoints = mcpv1alpha1.HandleEndpoints{Hosted: cfg.HostedURL(h.Name), Gateway: cfg.GatewayURL(), Compatibility: cfg.CompatibilityURL(h.Name)}
		v.EndpointsSource = "the platform configuration (the operator has not written the Handle's status yet)"
	}
	v.Command = setupCommand(cfg, "--handle "+h.Name, cfg.HostedURL(h.Name))

	// Connectors: the clients bound to the handle, then those its grants
	// name (shared-gateway clients, metadata document clients).
	seen := map[string]bool{}
	for i := range clients {
		if c := &clients[i]; c.Spec.Handle == h.Name && !c.Spec.Gateway {
			v.Connectors = append(v.Connectors, connector(c))
			seen[c.ClientID()] = true
		}
	}
	slices.SortFunc(conns, func(a, b mcpv1alpha1.Connection) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return -c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i := range conns {
		conn := &conns[i]
		if conn.DeletionTimestamp != nil {
			continue
		}
		oc := byID[conn.Spec.ClientID]
		if !seen[conn.Spec.ClientID] {
			seen[conn.Spec.ClientID] = true
			if oc != nil {
				v.Connectors = append(v.Connectors, connector(oc))
			} else {
				v.Connectors = append(v.Connectors, connectorView{Name: conn.Spec.ClientID, ClientID: conn.Spec.ClientID,
					Registration: string(mcpv1alpha1.RegistrationMetadataDocument), Binding: "per grant", Document: true})
			}
		}
		v.Grants = append(v.Grants, grant(conn, oc, s, h))
	}
	return v
}

func connector(c *mcpv1alpha1.OAuthClient) connectorView {
	v := connectorView{Name: c.Spec.ClientName, ClientID: c.ClientID(), Registration: string(c.Spec.Registration),
		RedirectURIs: c.Spec.RedirectURIs, DefaultScopes: c.Spec.DefaultScopes, AllowedScopes: c.Spec.AllowedScopes,
		Confidential: c.Confidential()}
	if v.Registration == "" {
		v.Registration = string(mcpv1alpha1.RegistrationDeclared)
	}
	if len(v.DefaultScopes) == 0 {
		v.DefaultScopes, v.DefaultScopesImplied = mcpv1alpha1.ConnectScopes, true
	}
	switch {
	case c.Spec.Gateway:
		v.Binding = "the shared app URL"
	case c.Spec.Handle != "":
		v.Binding = "this handle"
	default:
		v.Binding = "not yet bound"
	}
	return v
}

func grant(conn *mcpv1alpha1.Connection, oc *mcpv1alpha1.OAuthClient, s *Session, h *mcpv1alpha1.Handle) grantView {
	v := grantView{Name: conn.Name, ClientID: conn.Spec.ClientID, ClientName: conn.Spec.ClientID, Email: conn.Spec.Email,
		Scopes: conn.Spec.Scopes, Created: conn.CreationTimestamp.UTC(), Ready: "Unknown", Tools: "–", LastDiscovery: "never",
		Own: conn.Spec.Subject == s.Subject, CanRevoke: mayRevoke(h, s, conn)}
	if oc != nil && oc.Spec.ClientName != "" {
		v.ClientName = oc.Spec.ClientName
	}
	if v.Email == "" {
		v.Email = conn.Spec.Subject
	}
	switch st, _ := grants.TokenStateOf(conn); {
	case st.RefreshTokenHash != "":
		v.State = "connected"
	case st.AuthorizationCode != nil:
		v.State = "approved, code not yet exchanged"
	default:
		v.State = "approved"
	}
	if c := meta.FindStatusCondition(conn.Status.Conditions, mcpv1alpha1.ConnectionConditionReady); c != nil {
		v.Ready, v.ReadyReason, v.ReadyMessage = string(c.Status), c.Reason, c.Message
	}
	if b := conn.Status.Bootstrap; b != nil {
		if b.ToolCount != nil {
			v.Tools = strconv.Itoa(int(*b.ToolCount))
		}
		if b.LastDiscoveryTime != nil {
			v.LastDiscovery = b.LastDiscoveryTime.UTC().Format(time.RFC3339)
		}
		v.LastError = b.LastError
	}
	return v
}

// setupCommand is the mcpctl command that registers a new connector for a
// handle (target "--handle NAME") or the shared app URL ("--gateway"). mcpctl
// derives every URL and the issuer from a base domain B (hosts {h}.mcp.B and
// ai.B, or localhost for the local stack; 10x.in by default): an environment
// laid out that way is named with --base-domain, any other with --server-url
// and --expected-issuer.
func setupCommand(cfg *platform.Config, target, mcpURL string) string {
	cmd := "mcpctl setup-chatgpt-mcp-oauth " + target
	if base, ok := baseDomain(cfg); !ok {
		cmd += " --server-url " + mcpURL + " --expected-issuer " + cfg.Issuer
	} else if base != defaultBaseDomain {
		cmd += " --base-domain " + base
	}
	return cmd + " --redirect-uri " + chatGPTCallback
}

// baseDomain returns mcpctl's base domain of the platform configuration, or
// false when its hosts are not laid out as mcpctl derives them.
func baseDomain(cfg *platform.Config) (string, bool) {
	base, ok := strings.CutPrefix(cfg.MCPDomain, "mcp.")
	if !ok {
		return "", false
	}
	gateway := "ai." + base
	if base == "localhost" {
		gateway = base
	}
	if cfg.PublicPort != 443 {
		base = net.JoinHostPort(base, strconv.Itoa(int(cfg.PublicPort)))
	}
	if cfg.GatewayHost != gateway || cfg.Issuer != strings.TrimSuffix(cfg.SharedGatewayURL(), platform.MCPPath) {
		return "", false
	}
	return base, true
}

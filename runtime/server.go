// Package runtime is the HTTP server of mcp-handle-operator: one process
// serving every handle's MCP endpoint, the OAuth authorization server, its
// metadata documents and the web pages, routed by Host and path. The objects
// in the cluster, read through informers, are its only source of truth.
package runtime

import (
	"context"
	"net/http"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/audit"
	"github.com/10xdotin/mcp-handle-operator/runtime/endpoint"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/metrics"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
	"github.com/10xdotin/mcp-handle-operator/runtime/ratelimit"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
)

// Server serves every endpoint of the runtime.
type Server struct {
	Config   *platform.Config
	Handles  web.Handles
	Clients  oauth.Clients
	Secrets  oauth.ClientSecrets
	Users    web.Authenticator
	Grants   *grants.Store
	Registry *registry.Registry
	Keys     oauth.Keys
	// AccessTTL is the lifetime of access tokens; SessionTTL of sign-ins.
	AccessTTL, SessionTTL time.Duration
	Now                   func() time.Time

	// OIDC is the upstream OpenID Connect sign-in, nil when not configured.
	OIDC *web.OIDC

	// Upstream mints the tokens sent to Toolsets; its public keys are served
	// at {issuer}/.well-known/jwks.json (404 while nil).
	Upstream *upstream.Minter
	// MCP is the MCP endpoint of every handle, nil in tests of the
	// authorization server alone.
	MCP *endpoint.Endpoint
	// Ready says why the runtime may not take traffic yet (its informer
	// caches have not synced, its toolsets' tools are being fetched), or
	// nil when it may; a nil Ready is always ready.
	Ready func(context.Context) error
	// Metrics records requests (runtime/metrics); nil records nothing.
	Metrics *metrics.Metrics
	// Authorized is told of each grant whose code was exchanged (the
	// bootstrap flow's smoke check); nil does nothing.
	Authorized func(ctx context.Context, conn *mcpv1alpha1.Connection)
}

// Handler returns the runtime's HTTP handler.
func (s *Server) Handler() http.Handler {
	flow := &web.Flow{Config: s.Config, Clients: s.Clients, Handles: s.Handles, Users: s.Users, OIDC: s.OIDC, Grants: s.Grants,
		Registry: s.Registry, Keys: s.Keys, SessionTTL: s.SessionTTL, Now: s.Now, SignInLimit: s.perAddress(s.Config.RateLimits.SignIn)}
	token := &oauth.TokenEndpoint{Config: s.Config, Clients: s.Clients, Secrets: s.Secrets, Grants: s.Grants,
		Keys: s.Keys, AccessTTL: s.AccessTTL, Now: s.Now, Authorized: s.Authorized, Limit: s.perAddress(s.Config.RateLimits.Token)}
	revoke := &oauth.RevokeEndpoint{Clients: s.Clients, Secrets: s.Secrets, Grants: s.Grants, Keys: s.Keys}
	register := &oauth.RegisterEndpoint{Registry: s.Registry, Limit: s.perAddress(s.Config.RateLimits.Registration)}

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+platform.AuthorizationServerPath, s.serveAuthorizationServerMetadata)
	mux.HandleFunc("GET "+platform.ProtectedResourcePath, s.serveProtectedResourceMetadata)
	mux.HandleFunc("GET "+platform.ProtectedResourcePath+"/{path...}", s.serveProtectedResourceMetadata)
	gateway := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.onGatewayHost(h)) }
	gateway("GET "+oauth.AuthorizePath, flow.Authorize)
	gateway("POST "+oauth.TokenPath, s.Metrics.TokenEndpoint(token).ServeHTTP)
	gateway("POST "+oauth.RevokePath, revoke.ServeHTTP)
	gateway("POST "+oauth.RegisterPath, register.Register)
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		gateway(method+" "+oauth.RegisterPath+"/{client_id}", register.Manage)
	}
	gateway("GET /ui/login", flow.LoginPage)
	gateway("POST /ui/login", flow.Login)
	gateway("GET "+web.OIDCStartPath, flow.OIDCStart)
	gateway("GET "+platform.OIDCCallbackPath, flow.OIDCCallback)
	gateway("GET /ui/consent", flow.ConsentPage)
	gateway("POST /ui/consent", flow.Consent)
	gateway("GET /ui/assets/", web.Assets().ServeHTTP)
	// Integrations -> MCP & Tools reads handles, clients and grants through
	// the same reader as the flow (Cluster implements web.Directory).
	directory, _ := s.Handles.(web.Directory)
	integrations := &web.Integrations{Flow: flow, Directory: directory}
	gateway("GET "+web.IntegrationsPath, integrations.Page)
	gateway("POST "+web.IntegrationsRevokePath, integrations.Revoke)
	gateway("GET "+platform.JWKSPath, s.serveJWKS)
	if s.MCP != nil {
		mcp := s.MCP.Handler()
		mux.Handle(platform.MCPPath, mcp)
		mux.Handle(platform.CompatibilityPath("{handle}"), mcp)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.Ready != nil {
			if err := s.Ready(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return s.Metrics.Instrument(audit.RequestIDs(s.canonicalPaths(mux)))
}

// perAddress is a per-client-address limit at the configured rate, the
// client found behind the configured trusted proxies.
func (s *Server) perAddress(l *platform.RateLimit) *ratelimit.PerAddress {
	return &ratelimit.PerAddress{Buckets: ratelimit.Keyed{Rate: ratelimit.Of(l), Now: s.Now},
		Address: ratelimit.ClientAddress{TrustedProxies: s.Config.TrustedProxyPrefixes()}}
}

// serveJWKS serves the public keys of upstream tokens.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if s.Upstream == nil {
		notFound(w, "this runtime mints no upstream tokens")
		return
	}
	s.Upstream.ServeJWKS(w, r)
}

// onGatewayHost serves the authorization server and its pages only on the
// gateway host, the issuer's origin.
func (s *Server) onGatewayHost(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Config.IsGatewayHost(r.Host) {
			notFound(w, "the authorization server is at "+s.Config.Issuer)
			return
		}
		h(w, r)
	})
}

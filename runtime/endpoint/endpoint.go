// Package endpoint serves the MCP endpoint of every handle: the hosted
// https://{handle}.{mcpDomain}/mcp, the shared https://{gatewayHost}/mcp
// (where the token's handle decides) and the compatibility
// https://{gatewayHost}/mcp/{handle}/mcp. It checks the request — route,
// Origin, handle, bearer, session, scopes — answering the guide's errors
// exactly, and hands what passes to one mcp-go server for all handles.
package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/metrics"
	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// ProtocolVersions are the MCP versions served, newest first; the version is
// negotiated per request.
var ProtocolVersions = []string{mcp.ProtocolVersion20260728, mcp.ProtocolVersion20251125, mcp.ProtocolVersion20250618}

// Handles reads handles, in production from the informer cache.
type Handles interface {
	// Handle returns the named handle, or nil when it does not exist.
	Handle(ctx context.Context, name string) (*mcpv1alpha1.Handle, error)
	// ConnectorScopes returns the scopes a connector of the handle needs
	// (mcpv1alpha1.Handle.ConnectorScopes).
	ConnectorScopes(ctx context.Context, h *mcpv1alpha1.Handle) ([]mcpv1alpha1.Scope, error)
}

// Grants says whether a grant still exists: deleting it revokes its tokens.
type Grants interface {
	// Active reports whether the grant exists and is not being deleted.
	Active(ctx context.Context, name string) (bool, error)
}

// StepUps records, on a grant, the scopes a request needed and the grant
// lacks: the grant's next refresh is then refused, so a client that
// refreshes before it re-authorizes (the official MCP SDK does) goes on to
// authorize again and the user can approve them.
type StepUps interface {
	RequestStepUp(ctx context.Context, grant string, scopes []mcpv1alpha1.Scope) error
}

// Keys returns the current signing keys.
type Keys interface {
	Keys() *tokens.KeySet
}

// Endpoint is the MCP endpoint of every handle.
type Endpoint struct {
	Config  *platform.Config
	Handles Handles
	Grants  Grants
	Keys    Keys
	Tools   Tools
	// StepUps records refusals for lacking scopes; nil records none.
	StepUps StepUps
	// Bootstrap holds a connection's first tool request until its
	// bootstrap check has run (see Bootstrap); nil checks nothing.
	Bootstrap interface {
		Ensure(ctx context.Context, grant string, h *mcpv1alpha1.Handle)
	}
	// MCP serves what passes the checks; its tool filter and handlers read
	// the principal from the request context.
	MCP *server.MCPServer
	Now func() time.Time

	streamable *server.StreamableHTTPServer
	limits     *limits
}

// Handler returns the endpoint's HTTP handler, for the MCP paths.
func (e *Endpoint) Handler() http.Handler {
	e.streamable = server.NewStreamableHTTPServer(e.MCP,
		server.WithSessionIdManagerResolver(sessions{keys: e.Keys.Keys, now: e.Now}),
		// The Gateway terminates TLS for public hosts; the Origin check
		// below replaces mcp-go's loopback-only protection.
		server.WithDisableLocalhostProtection(true),
		server.WithStreamableHTTPProtocolVersions(ProtocolVersions...),
		// mcp-go keeps per-session state on the replica that saw the
		// session; clients rarely end sessions, and ours cannot be ended
		// (see Terminate), so idle state is swept.
		server.WithSessionIdleTTL(sessionIdleTTL),
	)
	e.limits = newLimits(e.Config, e.Now)
	return http.HandlerFunc(e.serve)
}

func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request) {
	span := newRequestSpan(w, r)
	defer span.end()
	w = span
	res, ok := e.Config.ResourceAt(r.Host, r.URL.Path)
	if !ok {
		(&problem{status: http.StatusNotFound, code: oautherr.NotFound, description: fmt.Sprintf("no MCP endpoint at %s%s", r.Host, r.URL.Path)}).write(w, res)
		return
	}
	p, prob := e.authenticate(r, res)
	if prob != nil {
		if prob.status == http.StatusUnauthorized {
			prob.scopes = e.resourceScopes(r.Context(), res)
			metrics.Rejected(r.Context(), prob.code)
		}
		prob.write(w, res)
		return
	}
	metrics.SetHandle(r.Context(), p.Handle.Name)
	span.handle = p.Handle.Name
	if v := unservedVersion(r); v != "" {
		http.Error(w, "Unsupported protocol version: "+v, http.StatusBadRequest)
		return
	}
	if r.Method == http.MethodPost {
		raw, msgs, prob := readMessages(w, r)
		r = span.begin(r, msgs)
		if len(msgs) == 1 {
			metrics.SetMCPMethod(r.Context(), msgs[0].Method)
		}
		if prob == nil && isBatch(raw) {
			writeInvalidRequest(w, "JSON-RPC batches are not supported: the protocol versions served send one message per request")
			return
		}
		if prob == nil {
			// Counted before the toolsets are waited for or called.
			prob = e.limits.allow(p)
			if prob != nil {
				prob.toolCall = toolCallID(msgs)
			}
		}
		if prob == nil {
			if e.Bootstrap != nil && needsTools(msgs) {
				e.Bootstrap.Ensure(r.Context(), p.Token.Grant, p.Handle)
			}
			await(r.Context(), e.Tools, p.Handle, msgs)
			prob = e.authorize(p, msgs)
		}
		if prob != nil && prob.missing != nil {
			e.requestStepUp(r.Context(), p, prob.missing)
		}
		if prob != nil {
			prob.write(w, res)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
	} else if prob := e.limits.allow(p); prob != nil {
		prob.write(w, res)
		return
	}
	r = span.begin(r, nil)
	e.streamable.ServeHTTP(w, r.WithContext(principal.NewContext(r.Context(), p)))
}

// authenticate runs the checks every MCP request passes, in the order that
// gives the most useful answer: route and Origin, then the handle of the
// URL, the bearer, the handle of the token, the session.
func (e *Endpoint) authenticate(r *http.Request, res platform.Resource) (*principal.Principal, *problem) {
	if origin := r.Header.Get("Origin"); origin != "" && !e.allowedOrigin(origin, res) {
		return nil, &problem{status: http.StatusForbidden, code: oautherr.ForbiddenOrigin, description: fmt.Sprintf("requests from the web origin %s are not accepted", origin)}
	}
	var h *mcpv1alpha1.Handle
	if res.Handle != "" {
		var prob *problem
		if h, prob = e.handle(r.Context(), res.Handle); prob != nil {
			return nil, prob
		}
	}
	access, prob := e.bearer(r)
	if prob != nil {
		return nil, prob
	}
	if h == nil {
		// The shared gateway serves the handle the token was issued for.
		if h, prob = e.handle(r.Context(), access.Handle); prob != nil {
			if prob.status == http.StatusNotFound {
				prob = &problem{status: http.StatusUnauthorized, code: oautherr.InvalidToken,
					description: fmt.Sprintf("the handle %s this token was issued for no longer exists", access.Handle)}
			}
			return nil, prob
		}
	} else if access.Handle != h.Name {
		return nil, &problem{status: http.StatusUnauthorized, code: oautherr.TokenHandleMismatch,
			description: fmt.Sprintf("this token was issued for the handle %s, not %s: authorize a connector for %s", access.Handle, h.Name, h.Name)}
	}
	p := &principal.Principal{Handle: h, Resource: res, Token: access}
	if id := r.Header.Get(server.HeaderKeySessionID); id != "" {
		s, err := openSession(e.Keys.Keys(), id, e.Now())
		if err != nil {
			return nil, &problem{status: http.StatusNotFound, code: oautherr.SessionNotFound, description: "the MCP session is unknown or expired: initialize a new one"}
		}
		if s.Handle != h.Name {
			return nil, &problem{status: http.StatusUnauthorized, code: oautherr.SessionHandleMismatch,
				description: fmt.Sprintf("this MCP session was opened for the handle %s, not %s: use one connector per handle", s.Handle, h.Name)}
		}
		if s.Subject != access.Subject {
			return nil, &problem{status: http.StatusNotFound, code: oautherr.SessionNotFound, description: "the MCP session belongs to another user: initialize a new one"}
		}
	}
	return p, nil
}

// requestStepUp records the refusal before the 403 is sent, so the refresh
// the client may send next already finds it. Failing to record it only
// costs the client its automatic re-authorization.
func (e *Endpoint) requestStepUp(ctx context.Context, p *principal.Principal, missing []mcpv1alpha1.Scope) {
	if e.StepUps == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.StepUps.RequestStepUp(ctx, p.Token.Grant, missing); err != nil {
		slog.Default().Warn("step-up not recorded on the grant", "grant", p.Token.Grant, "error", err)
	}
}

// resourceScopes are the scopes a 401 challenge asks for: those a connector
// of the URL's handle needs, the same as its protected-resource metadata's
// scopes_supported. On the shared gateway the handle is chosen at consent,
// so the challenge asks for the whole catalogue and consent narrows it.
func (e *Endpoint) resourceScopes(ctx context.Context, res platform.Resource) []mcpv1alpha1.Scope {
	if res.Handle == "" {
		return mcpv1alpha1.AllScopes()
	}
	if h, err := e.Handles.Handle(ctx, res.Handle); err == nil && h != nil {
		if scopes, err := e.Handles.ConnectorScopes(ctx, h); err == nil {
			return scopes
		}
	}
	return mcpv1alpha1.ConnectScopes
}

// handle reads a handle the request names and refuses a missing or
// suspended one.
func (e *Endpoint) handle(ctx context.Context, name string) (*mcpv1alpha1.Handle, *problem) {
	h, err := e.Handles.Handle(ctx, name)
	switch {
	case err != nil:
		return nil, &problem{status: http.StatusServiceUnavailable, code: oautherr.TemporarilyUnavailable, description: "the handle could not be read; retry shortly"}
	case h == nil:
		return nil, &problem{status: http.StatusNotFound, code: oautherr.HandleNotFound, description: fmt.Sprintf("there is no handle %q: check the MCP URL", name)}
	case h.Spec.Suspended:
		return nil, &problem{status: http.StatusForbidden, code: oautherr.HandleSuspended, description: fmt.Sprintf("the handle %s is suspended", name)}
	}
	return h, nil
}

// bearer verifies the request's access token and that its grant stands.
func (e *Endpoint) bearer(r *http.Request) (tokens.Access, *problem) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return tokens.Access{}, &problem{status: http.StatusUnauthorized, code: oautherr.MissingBearerToken,
			description: "no bearer token: connect through OAuth"}
	}
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, tokens.AccessPrefix) {
		return tokens.Access{}, &problem{status: http.StatusUnauthorized, code: oautherr.InvalidTokenFormat,
			description: "the bearer is not an mcpv1_ token: re-authorize the connector"}
	}
	access, err := e.Keys.Keys().VerifyAccess(token, e.Now())
	if err != nil {
		description := "the token is invalid: re-authorize the connector"
		if errors.Is(err, tokens.ErrExpired) {
			description = "the token has expired: refresh it or re-authorize the connector"
		}
		return tokens.Access{}, &problem{status: http.StatusUnauthorized, code: oautherr.InvalidToken, description: description}
	}
	active, err := e.Grants.Active(r.Context(), access.Grant)
	if err != nil {
		return tokens.Access{}, &problem{status: http.StatusServiceUnavailable, code: oautherr.TemporarilyUnavailable, description: "the grant could not be read; retry shortly"}
	}
	if !active {
		return tokens.Access{}, &problem{status: http.StatusUnauthorized, code: oautherr.InvalidToken,
			description: "the token was revoked: re-authorize the connector"}
	}
	return access, nil
}

// authorize checks the scopes of every message against the token's; the
// challenge asks for all of them at once so one re-authorization is enough.
func (e *Endpoint) authorize(p *principal.Principal, msgs []message) *problem {
	// Every request needs mcp.connect, also one whose body no message
	// could be read from.
	want, _ := tokens.NewScopeSet(mcpv1alpha1.ScopeMCPConnect)
	for _, m := range msgs {
		want |= needed(e.Tools, p.Handle, m)
	}
	missing := p.Token.Scopes.Missing(want)
	if missing == 0 {
		return nil
	}
	prob := &problem{status: http.StatusForbidden, code: oautherr.InsufficientScope, scopes: (p.Token.Scopes | want).Scopes(), missing: missing.Scopes(),
		description: "the approved scopes do not cover this request; re-authorize with " + joinScopes(missing.Scopes())}
	prob.toolCall = toolCallID(msgs)
	return prob
}

// toolCallID is the id of a request that is one tools/call, whose refusal
// is answered in the tool-result form; nil otherwise.
func toolCallID(msgs []message) json.RawMessage {
	if len(msgs) == 1 && msgs[0].Method == "tools/call" && len(msgs[0].ID) > 0 {
		return msgs[0].ID
	}
	return nil
}

func joinScopes(scopes []mcpv1alpha1.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, " ")
}

// allowedOrigin accepts the gateway host's origin and the hosted origin of
// the handle the URL addresses: browsers on other sites, another handle's
// host included, may not drive a user's MCP session (DNS rebinding).
func (e *Endpoint) allowedOrigin(origin string, res platform.Resource) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Path != "" {
		return false
	}
	if e.Config.IsGatewayHost(u.Host) {
		return true
	}
	return res.Handle != "" && e.Config.HostedURL(res.Handle) == origin+platform.MCPPath
}

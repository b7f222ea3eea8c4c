package toolsets

import (
	"context"
	"sync"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
)

// Resource subscriptions (protocol versions before 2026-07-28): a client's
// resources/subscribe of a toolset: URI is recorded for its session on this
// replica and forwarded to the toolset with the caller's token, once per
// upstream URI and connection; the upstream's
// notifications/resources/updated, which arrive on the runtime's one
// session with it (its standalone GET stream), go to the client sessions of
// this replica subscribed to that URI, and to nobody else. A URI of no
// toolset is recorded and never updated. mcp-go's server acknowledges the
// requests; it keeps no subscriptions of its own.

// subscriptions are the client sessions of this replica subscribed to each
// URI the runtime hands out.
type subscriptions struct {
	mu       sync.Mutex
	sessions map[string]map[string]struct{}
}

// SubscriptionHooks adds the hooks that record and forward subscriptions.
func (m *Manager) SubscriptionHooks(hooks *server.Hooks) {
	hooks.AddBeforeSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest) {
		m.subscribe(ctx, req.Params.URI)
	})
	hooks.AddBeforeUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest) {
		if session := server.ClientSessionFromContext(ctx); session != nil {
			m.subs.remove(req.Params.URI, session.SessionID())
		}
	})
	hooks.AddOnUnregisterSession(func(_ context.Context, session server.ClientSession) {
		m.subs.forget(session.SessionID())
	})
}

func (m *Manager) subscribe(ctx context.Context, uri string) {
	session := server.ClientSessionFromContext(ctx)
	if session == nil || session.SessionID() == "" {
		return
	}
	m.subs.add(uri, session.SessionID())
	toolset, upstreamURI, ok := SplitResourceURI(uri)
	if !ok {
		return
	}
	c := m.connOf(toolset)
	if c == nil || !c.markSubscribed(upstreamURI) {
		return
	}
	_, err := forward(ctx, m, toolset, "resources/subscribe", func(ctx context.Context, cl *mcpclient.Client) (struct{}, error) {
		// The RPC of the versions before 2026-07-28, which are the ones
		// subscriptions are forwarded on.
		return struct{}{}, cl.Subscribe(ctx, mcp.SubscribeRequest{Params: mcp.SubscribeParams{URI: upstreamURI}}) //nolint:staticcheck // see above
	}, attribute.String("mcp.resource.uri", upstreamURI))
	if err != nil {
		c.unmarkSubscribed(upstreamURI)
		m.log().Info("resource subscription not forwarded", "toolset", toolset, "uri", upstreamURI, "error", err)
	}
}

// updated passes an upstream's notifications/resources/updated on to the
// sessions of this replica subscribed to its URI.
func (m *Manager) updated(toolset string, n mcp.JSONRPCNotification) {
	var p struct {
		URI string `json:"uri"`
	}
	if !decodeParams(n, &p) || p.URI == "" || m.Server == nil {
		return
	}
	uri := ResourceURI(toolset, p.URI)
	for _, id := range m.subs.of(uri) {
		_ = m.Server.SendNotificationToSpecificClient(id, string(mcp.MethodNotificationResourceUpdated), map[string]any{"uri": uri})
	}
}

func (s *subscriptions) add(uri, session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = map[string]map[string]struct{}{}
	}
	if s.sessions[uri] == nil {
		s.sessions[uri] = map[string]struct{}{}
	}
	s.sessions[uri][session] = struct{}{}
}

func (s *subscriptions) remove(uri, session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions[uri], session)
	if len(s.sessions[uri]) == 0 {
		delete(s.sessions, uri)
	}
}

// forget drops every subscription of a session that ended.
func (s *subscriptions) forget(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for uri, sessions := range s.sessions {
		delete(sessions, session)
		if len(sessions) == 0 {
			delete(s.sessions, uri)
		}
	}
}

func (s *subscriptions) of(uri string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.sessions[uri]))
	for id := range s.sessions[uri] {
		out = append(out, id)
	}
	return out
}

package toolsets

import (
	"context"
	"maps"
	"slices"
	"sync"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
)

// Resource subscriptions: a client's resources/subscribe of a toolset: URI
// (or, on 2026-07-28, the resourceSubscriptions of its subscriptions/listen
// stream) is recorded for its session, or its stream, on this replica and
// forwarded to the toolset with the caller's token, once per upstream URI
// and connection; the upstream's notifications/resources/updated, which
// arrive on the runtime's one session with it (its standalone GET stream),
// go to the client sessions and streams of this replica subscribed to that
// URI, and to nobody else. A URI of no toolset is recorded and never
// updated. mcp-go's server acknowledges the requests; it keeps no
// subscriptions of its own.

// subscriptions are the client sessions of this replica subscribed to each
// URI the runtime hands out.
type subscriptions struct {
	mu       sync.Mutex
	sessions subscribers[string]
	// streams are the 2026-07-28 subscriptions/listen streams subscribed
	// to each URI, open as long as their request: they have no session id.
	streams subscribers[server.ClientSession]
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
	hooks.AddBeforeSubscriptionsListen(func(ctx context.Context, _ any, req *mcp.SubscriptionsListenRequest) {
		session := server.ClientSessionFromContext(ctx)
		if session == nil {
			return
		}
		for _, uri := range req.Params.Notifications.ResourceSubscriptions {
			m.subs.addStream(uri, session)
			m.forwardSubscription(ctx, uri)
		}
	})
	hooks.AddAfterSubscriptionsListen(func(ctx context.Context, _ any, _ *mcp.SubscriptionsListenRequest, _ *mcp.SubscriptionsListenResult) {
		if session := server.ClientSessionFromContext(ctx); session != nil {
			m.subs.forgetStream(session)
		}
	})
}

func (m *Manager) subscribe(ctx context.Context, uri string) {
	session := server.ClientSessionFromContext(ctx)
	if session == nil || session.SessionID() == "" {
		return
	}
	m.subs.add(uri, session.SessionID())
	m.forwardSubscription(ctx, uri)
}

// forwardSubscription subscribes to a toolset: URI at its toolset, unless
// it already is on the current connection.
func (m *Manager) forwardSubscription(ctx context.Context, uri string) {
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
	sessions, streams := m.subs.of(uri)
	for _, id := range sessions {
		_ = m.Server.SendNotificationToSpecificClient(id, string(mcp.MethodNotificationResourceUpdated), map[string]any{"uri": uri})
	}
	update := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION, Notification: mcp.Notification{
		Method: string(mcp.MethodNotificationResourceUpdated), Params: mcp.NotificationParams{AdditionalFields: map[string]any{"uri": uri}}}}
	for _, stream := range streams {
		// The stream's request writes (and tags) what its session queues.
		select {
		case stream.NotificationChannel() <- update:
		default:
		}
	}
}

// subscribers are who is subscribed to each URI: client sessions by id,
// or listen streams by their session.
type subscribers[K comparable] map[string]map[K]struct{}

func (s subscribers[K]) add(uri string, k K) {
	if s[uri] == nil {
		s[uri] = map[K]struct{}{}
	}
	s[uri][k] = struct{}{}
}

func (s subscribers[K]) remove(uri string, k K) {
	delete(s[uri], k)
	if len(s[uri]) == 0 {
		delete(s, uri)
	}
}

// forget drops every subscription of k.
func (s subscribers[K]) forget(k K) {
	for uri := range s {
		s.remove(uri, k)
	}
}

func (s subscribers[K]) of(uri string) []K {
	return slices.Collect(maps.Keys(s[uri]))
}

func (s *subscriptions) add(uri, session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = subscribers[string]{}
	}
	s.sessions.add(uri, session)
}

func (s *subscriptions) remove(uri, session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions.remove(uri, session)
}

// forget drops every subscription of a session that ended.
func (s *subscriptions) forget(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions.forget(session)
}

func (s *subscriptions) addStream(uri string, stream server.ClientSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams == nil {
		s.streams = subscribers[server.ClientSession]{}
	}
	s.streams.add(uri, stream)
}

// forgetStream drops the subscriptions of a listen stream that ended.
func (s *subscriptions) forgetStream(stream server.ClientSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams.forget(stream)
}

// of returns the sessions and the listen streams subscribed to uri.
func (s *subscriptions) of(uri string) ([]string, []server.ClientSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions.of(uri), s.streams.of(uri)
}

package toolsets

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// The runtime keeps one connection (one MCP session) per upstream for all
// handles and users, so what an upstream sends back must reach the one
// client whose request caused it and nobody else:
//
//   - Requests (sampling/createMessage, elicitation/create, roots/list)
//     arrive on the stream of the forwarded request, with its context: the
//     relay asks the client of that request, through the runtime's MCP
//     server, and returns its answer upstream.
//   - Progress notifications carry the progress token of the forwarded
//     request, which is the runtime's own (a client's token could be
//     guessed or reused by another client): the relay maps it back to the
//     client's token and request.
//
// Everything else an upstream sends on its shared session (log messages,
// resource updates) belongs to no client and is not relayed (docs/mcp.md).

// orNoAnswer is err, or an error for an answer that is missing.
func orNoAnswer(err error, missing bool) error {
	if err == nil && missing {
		return errors.New("the client answered with something else")
	}
	return err
}

// errNoClient answers an upstream request that came outside a client's
// request: there is nobody to ask.
var errNoClient = errors.New("the runtime relays requests only during a client's request")

// relay answers an upstream's server-to-client requests by asking the
// client of the forwarded request.
type relay struct{}

var (
	_ mcpclient.SamplingHandler    = relay{}
	_ mcpclient.ElicitationHandler = relay{}
	_ mcpclient.RootsHandler       = relay{}
)

// downstream returns the runtime's MCP server of the client request that
// ctx belongs to.
func downstream(ctx context.Context) (*server.MCPServer, error) {
	if s := server.ServerFromContext(ctx); s != nil && server.ClientSessionFromContext(ctx) != nil {
		return s, nil
	}
	return nil, errNoClient
}

func (relay) CreateMessage(ctx context.Context, req mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	if answer, held, err := ask(ctx, mcp.NewSamplingInputRequest(req.CreateMessageParams)); held {
		return answer.Sampling, orNoAnswer(err, answer.Sampling == nil)
	}
	s, err := downstream(ctx)
	if err != nil {
		return nil, err
	}
	// Deprecated as of 2026-07-28 (SEP-2577), still part of the versions
	// before it, which are the ones it is relayed on.
	return s.RequestSampling(ctx, req) //nolint:staticcheck // see above
}

func (relay) Elicit(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	if answer, held, err := ask(ctx, mcp.NewElicitationInputRequest(req.Params)); held {
		return answer.Elicitation, orNoAnswer(err, answer.Elicitation == nil)
	}
	s, err := downstream(ctx)
	if err != nil {
		return nil, err
	}
	return s.RequestElicitation(ctx, req)
}

func (relay) ListRoots(ctx context.Context, req mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	if answer, held, err := ask(ctx, mcp.NewRootsInputRequest()); held {
		return answer.Roots, orNoAnswer(err, answer.Roots == nil)
	}
	s, err := downstream(ctx)
	if err != nil {
		return nil, err
	}
	return s.RequestRoots(ctx, req)
}

// progressRelay maps the runtime's progress tokens of requests in flight to
// the function that passes their progress on.
type progressRelay struct {
	mu   sync.Mutex
	open map[string]func(mcp.ProgressNotificationParams)
}

// relayProgress returns the _meta of a forwarded request: a progress token
// of the runtime's own when the client's request asked for progress (its
// _meta has a progress token), and the log level the request asked for
// (logLevelMeta); nil when neither. The upstream's progress on
// that token goes to the client of ctx's request, under the client's token,
// until done is called.
func (m *Manager) relayProgress(ctx context.Context, meta *mcp.Meta) (out *mcp.Meta, done func()) {
	out = logLevelMeta(ctx)
	if meta == nil || meta.ProgressToken == nil {
		return out, func() {}
	}
	s, err := downstream(ctx)
	if err != nil {
		return out, func() {}
	}
	clientToken := meta.ProgressToken
	token := "runtime-" + tokens.RandomID()
	r := &m.progress
	r.mu.Lock()
	if r.open == nil {
		r.open = map[string]func(mcp.ProgressNotificationParams){}
	}
	r.open[token] = func(p mcp.ProgressNotificationParams) {
		params := map[string]any{"progressToken": clientToken, "progress": p.Progress}
		if p.Total != 0 {
			params["total"] = p.Total
		}
		if p.Message != "" {
			params["message"] = p.Message
		}
		_ = s.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), params)
	}
	r.mu.Unlock()
	if out == nil {
		out = &mcp.Meta{}
	}
	out.ProgressToken = token
	return out, func() {
		r.mu.Lock()
		delete(r.open, token)
		r.mu.Unlock()
		flushed(ctx)
	}
}

// flushWait bounds how long a forwarded request's answer waits for the
// notifications relayed to its client to be taken up.
const flushWait = 50 * time.Millisecond

// flushGrace is the moment flushed gives the forwarder to write what it
// took off the queue.
const flushGrace = 5 * time.Millisecond

// flushed waits (bounded) until the notifications queued for the client of
// ctx's request have been taken off its session's queue, and a moment more
// for them to be written. An upstream sends its last progress right before
// its answer, and mcp-go's Streamable HTTP server drops a notification its
// forwarder has taken off the queue but not written when the answer is
// written: waiting here, before the answer exists, lets the forwarder write
// it first. It costs a call that relayed progress a few milliseconds.
func flushed(ctx context.Context) {
	session := server.ClientSessionFromContext(ctx)
	if session == nil {
		return
	}
	queue := session.NotificationChannel()
	for deadline := time.Now().Add(flushWait); len(queue) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(flushGrace)
}

// deliver passes on an upstream's progress notification, if it is for a
// request in flight.
func (r *progressRelay) deliver(n mcp.JSONRPCNotification) {
	var p mcp.ProgressNotificationParams
	if !decodeParams(n, &p) {
		return
	}
	token, _ := p.ProgressToken.(string)
	r.mu.Lock()
	pass := r.open[token]
	r.mu.Unlock()
	if pass != nil {
		pass(p)
	}
}

// decodeParams decodes a notification's params into v.
func decodeParams(n mcp.JSONRPCNotification, v any) bool {
	raw, err := json.Marshal(n.Params)
	return err == nil && json.Unmarshal(raw, v) == nil
}

// logLevelMeta asks the upstream for the log messages a 2026-07-28 client
// asked for with its request (its level), since on that version they are
// the request's; nil when it asked for none.
func logLevelMeta(ctx context.Context) *mcp.Meta {
	info := server.RequestProtocolInfoFromContext(ctx)
	if info == nil || info.LogLevel == "" {
		return nil
	}
	return &mcp.Meta{AdditionalFields: map[string]any{mcp.MetaKeyLogLevel: string(info.LogLevel)}}
}

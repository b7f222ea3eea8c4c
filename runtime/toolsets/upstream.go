package toolsets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/tracing"
)

// maxErrorText bounds the upstream text quoted in a tool error or a status
// message.
const maxErrorText = 512

// MaxAnswerBytes bounds one answer of an upstream (its HTTP body): the
// client decodes a JSON answer, and reads an event stream line, whole, so
// an upstream sending without end would otherwise fill the runtime's
// memory until the call's timeout, for every call in flight. A longer answer
// fails the call. The tools/list_changed stream is not bounded.
const MaxAnswerBytes = 8 << 20

// errAnswerTooLarge ends the read of an answer longer than MaxAnswerBytes.
var errAnswerTooLarge = fmt.Errorf("the answer is longer than %d MiB", MaxAnswerBytes>>20)

// limitAnswers returns hc with every answer body cut off with
// errAnswerTooLarge after limit bytes, but the tools/list_changed stream's.
func limitAnswers(hc *http.Client, limit int64) *http.Client {
	c := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = tracing.Transport(answerLimit{base: base, limit: limit})
	return &c
}

// traceUpstream starts the span of one request to the upstream at url; the
// returned end records its error.
func traceUpstream(ctx context.Context, operation, url string, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	attrs = append(attrs, attribute.String("mcp.method.name", operation), attribute.String("url.full", url))
	ctx, span := tracing.Start(ctx, operation, trace.SpanKindClient, attrs...)
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "the upstream call failed")
		}
		span.End()
	}
}

type answerLimit struct {
	base  http.RoundTripper
	limit int64
}

func (l answerLimit) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(r)
	if err != nil || resp.Body == nil || r.Method == http.MethodGet ||
		r.Header.Get(mcp.HeaderMethod) == string(mcp.MethodSubscriptionsListen) {
		return resp, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: l.limit}
	tapLogs(r, resp)
	return resp, nil
}

// limitedBody fails a read past its limit.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// An answer of exactly the limit ends here.
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, errAnswerTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// conn is the runtime's connection to one upstream: one mcp-go client,
// initialized on first use with the runtime's own token, whose requests
// carry the token put in their context (tokenKey). It bounds the calls in
// flight.
type conn struct {
	url       string
	timeoutNs atomic.Int64
	sem       chan struct{}
	http      *http.Client
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc

	// lock (a one-slot channel, so waiting honours a context) serializes
	// creating the client.
	lock      chan struct{}
	client    atomic.Pointer[mcpclient.Client]
	listening atomic.Bool
	onChange  atomic.Pointer[func()]
	// notify receives every notification of the upstream (set before the
	// first request).
	notify func(mcp.JSONRPCNotification)

	// subscribed are the upstream URIs subscribed to on the current client
	// (subscriptions.go); a new client starts with none.
	subMu      sync.Mutex
	subscribed map[string]bool
	subClient  *mcpclient.Client
}

// markSubscribed records that uri is to be subscribed to on the current
// client, and reports whether it was not yet.
func (c *conn) markSubscribed(uri string) bool {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if cl := c.client.Load(); cl != c.subClient {
		c.subClient, c.subscribed = cl, nil
	}
	if c.subscribed[uri] {
		return false
	}
	if c.subscribed == nil {
		c.subscribed = map[string]bool{}
	}
	c.subscribed[uri] = true
	return true
}

// unmarkSubscribed forgets a subscription that failed.
func (c *conn) unmarkSubscribed(uri string) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	delete(c.subscribed, uri)
}

type tokenKey struct{}

// withToken returns ctx whose upstream requests carry token as their bearer.
func withToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// streamTokenKey holds, in the context of the connection's standalone
// stream, the function minting the runtime's own token for it.
type streamTokenKey struct{}

// bearer is the transport's header function: the token in the request's
// context; for the connection's standalone GET stream (whose context has no
// request token), a fresh token of the runtime's own; otherwise no
// Authorization at all (never anything else).
func bearer(ctx context.Context) map[string]string {
	if token, _ := ctx.Value(tokenKey{}).(string); token != "" {
		return map[string]string{"Authorization": "Bearer " + token}
	}
	if mint, _ := ctx.Value(streamTokenKey{}).(func() (string, error)); mint != nil {
		if token, err := mint(); err == nil {
			return map[string]string{"Authorization": "Bearer " + token}
		}
	}
	return nil
}

func newConn(ctx context.Context, url string, timeout time.Duration, maxInFlight int, hc *http.Client, log *slog.Logger) *conn {
	ctx, cancel := context.WithCancel(ctx)
	c := &conn{url: url, sem: make(chan struct{}, maxInFlight), http: limitAnswers(hc, MaxAnswerBytes), log: log, ctx: ctx, cancel: cancel,
		lock: make(chan struct{}, 1)}
	c.setTimeout(timeout)
	return c
}

func (c *conn) setTimeout(d time.Duration) { c.timeoutNs.Store(int64(d)) }
func (c *conn) timeout() time.Duration     { return time.Duration(c.timeoutNs.Load()) }

// close ends the connection's listen stream and closes its client.
func (c *conn) close() {
	c.cancel()
	if cl := c.client.Swap(nil); cl != nil {
		go func() { _ = cl.Close() }()
	}
}

// get returns the initialized client, creating it if needed; token mints
// the runtime's own token for the handshake.
func (c *conn) get(ctx context.Context, token func() (string, error)) (*mcpclient.Client, error) {
	if cl := c.client.Load(); cl != nil {
		return cl, nil
	}
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.lock }()
	if cl := c.client.Load(); cl != nil {
		return cl, nil
	}
	if c.ctx.Err() != nil {
		return nil, errors.New("the connection to the upstream is closed")
	}
	cl, err := c.start(ctx, token, false)
	if err != nil {
		return nil, err
	}
	// An upstream before protocol 2026-07-28 that offers resource
	// subscriptions or resource list changes sends them on the standalone
	// GET stream, which mcp-go's client opens only from the start (and
	// which pins it to the older protocols): connect again with it.
	if !mcp.IsModernProtocol(cl.ProtocolVersion()) && announces(cl.GetServerCapabilities()) {
		_ = cl.Close()
		if cl, err = c.start(ctx, token, true); err != nil {
			return nil, err
		}
	}
	c.client.Store(cl)
	return cl, nil
}

// announces reports whether an upstream sends notifications about its
// resources outside requests: updates or list changes. Only for those: an
// upstream with a standalone stream may send a request's own log messages
// there too (mcp-go's server does), where nothing ties them to the request,
// and tool and prompt lists are refreshed anyway.
func announces(caps mcp.ServerCapabilities) bool {
	return caps.Resources != nil && (caps.Resources.Subscribe || caps.Resources.ListChanged)
}

// start connects a new client to the upstream and initializes it, with the
// standalone GET stream when listen is set.
func (c *conn) start(ctx context.Context, token func() (string, error), listen bool) (*mcpclient.Client, error) {
	tok, err := token()
	if err != nil {
		return nil, fmt.Errorf("failed to mint the runtime's token: %w", err)
	}
	options := []transport.StreamableHTTPCOption{transport.WithHTTPBasicClient(c.http), transport.WithHTTPHeaderFunc(bearer), transport.WithHTTPLogger(c.log)}
	if listen {
		options = append(options, transport.WithContinuousListening()) //nolint:staticcheck // only for upstreams before 2026-07-28 (see get)
	}
	tr, err := transport.NewStreamableHTTP(c.url, options...)
	if err != nil {
		return nil, err
	}
	// The upstream may ask the client of a forwarded request for sampling,
	// elicitation and roots: relayed to that client (relay.go).
	cl := mcpclient.NewClient(tr, mcpclient.WithSamplingHandler(relay{}), mcpclient.WithElicitationHandler(relay{}), mcpclient.WithRootsHandler(relay{}))
	// Start's context is the GET stream's: its requests carry a fresh token
	// of the runtime's own (bearer).
	if err := cl.Start(context.WithValue(c.ctx, streamTokenKey{}, token)); err != nil {
		return nil, err
	}
	cl.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationToolsListChanged) {
			if f := c.onChange.Load(); f != nil {
				(*f)()
			}
		}
		if c.notify != nil {
			c.notify(n)
		}
	})
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "mcp-handle-runtime", Version: "v1alpha1"}
	if _, err := cl.Initialize(withToken(ctx, tok), init); err != nil {
		_ = cl.Close()
		return nil, fmt.Errorf("failed to initialize: %w", err)
	}
	// Before 2026-07-28 an upstream's log level is its session's, which
	// every client shares: ask for everything, and let each client's own
	// level choose (logs.go). Best effort: logs are not worth a failed
	// connection.
	if cl.GetServerCapabilities().Logging != nil && !mcp.IsModernProtocol(cl.ProtocolVersion()) {
		level := mcp.SetLevelRequest{}
		level.Params.Level = mcp.LoggingLevelDebug
		if err := cl.SetLevel(withToken(ctx, tok), level); err != nil { //nolint:staticcheck // before 2026-07-28 only (above)
			c.log.Info("upstream log level not set", "url", c.url, "error", err)
		}
	}
	return cl, nil
}

// reset drops cl, so the next request starts a new connection.
func (c *conn) reset(cl *mcpclient.Client) {
	if c.client.CompareAndSwap(cl, nil) {
		go func() { _ = cl.Close() }()
	}
}

// do runs f with the client, once more on a new connection when the
// upstream has forgotten the session (it refused the request unseen).
func do[T any](ctx context.Context, c *conn, token func() (string, error), f func(*mcpclient.Client) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		cl, err := c.get(ctx, token)
		if err != nil {
			return zero, err
		}
		v, err := f(cl)
		if err != nil && attempt == 0 && errors.Is(err, transport.ErrSessionTerminated) && ctx.Err() == nil {
			c.reset(cl)
			continue
		}
		return v, err
	}
}

// list returns the upstream's tools, listed with the runtime's own token.
func (c *conn) list(ctx context.Context, token func() (string, error)) ([]mcp.Tool, time.Duration, error) {
	tok, err := token()
	if err != nil {
		return nil, 0, fmt.Errorf("failed to mint the runtime's token: %w", err)
	}
	ctx, end := traceUpstream(ctx, "tools/list", c.url)
	res, err := do(ctx, c, token, func(cl *mcpclient.Client) (*mcp.ListToolsResult, error) {
		return cl.ListTools(withToken(ctx, tok), mcp.ListToolsRequest{})
	})
	end(err)
	if err != nil {
		return nil, 0, err
	}
	if res == nil {
		return nil, 0, errors.New("the upstream answered tools/list with no result")
	}
	return res.Tools, ttlOf(res.CacheableResult), nil
}

// ttlOf is how long a list may be kept (its 2026-07-28 ttlMs); 0 when the
// upstream gave no time.
func ttlOf(r mcp.CacheableResult) time.Duration {
	if ttl, ok := r.TTL(); ok && ttl > 0 {
		return time.Duration(ttl) * time.Millisecond
	}
	return 0
}

// listen opens the upstream's tools/list_changed stream if it offers one and
// it is not open: on protocol 2026-07-28 and later, subscriptions/listen.
// Upstreams on older protocol versions are refreshed periodically, or on
// a tools/list_changed they send on a standalone GET stream (get).
func (c *conn) listen(token func() (string, error), onChange func()) {
	c.onChange.Store(&onChange)
	cl := c.client.Load()
	if cl == nil || !mcp.IsModernProtocol(cl.ProtocolVersion()) {
		return
	}
	if caps := cl.GetServerCapabilities(); caps.Tools == nil || !caps.Tools.ListChanged {
		return
	}
	if !c.listening.CompareAndSwap(false, true) {
		return
	}
	tok, err := token()
	if err != nil {
		c.listening.Store(false)
		return
	}
	go func() {
		defer c.listening.Store(false)
		err := cl.Listen(withToken(c.ctx, tok), mcp.SubscriptionFilter{ToolsListChanged: true})
		if err != nil && c.ctx.Err() == nil {
			c.log.Info("upstream tools/list_changed stream ended", "url", c.url, "error", err)
		}
	}()
}

// handler is the registered handler of one upstream tool.
func (m *Manager) handler(toolset, tool string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
		defer func() {
			if r := recover(); r != nil {
				m.log().Error("toolset call panicked", "toolset", toolset, "tool", tool, "panic", r)
				res, err = toolError("toolset %q: the call failed inside the runtime", toolset), nil
			}
		}()
		return m.call(ctx, toolset, tool, req), nil
	}
}

// errNoResult is an upstream answer without a result: a failed call.
var errNoResult = errors.New("the upstream answered with no result")

// observe records an upstream call that started at start.
func (m *Manager) observe(toolset, operation string, start time.Time, err error) {
	if m.Metrics != nil {
		m.Metrics.ObserveUpstream(toolset, operation, time.Since(start), err)
	}
}

// call forwards one tools/call to the upstream; for a 2026-07-28 client,
// one that may ask it for input (inputs.go).
func (m *Manager) call(ctx context.Context, toolset, tool string, req mcp.CallToolRequest) *mcp.CallToolResult {
	if resumable(ctx) {
		return m.callResumable(ctx, toolset, tool, req)
	}
	return m.callOnce(ctx, toolset, tool, req)
}

// callOnce forwards one tools/call to the upstream. Every failure is a tool
// result with isError set, naming the toolset.
func (m *Manager) callOnce(ctx context.Context, toolset, tool string, req mcp.CallToolRequest) *mcp.CallToolResult {
	// A new request: nothing of the client's request (its headers, its
	// _meta) goes upstream but the arguments, and a progress token of the
	// runtime's own when the client asked for progress (relay.go).
	out := mcp.CallToolRequest{}
	out.Params.Name = tool
	out.Params.Arguments = req.Params.Arguments
	out.Params.RawArguments = req.Params.RawArguments
	res, err := forward(ctx, m, toolset, "tools/call", func(ctx context.Context, cl *mcpclient.Client) (*mcp.CallToolResult, error) {
		meta, done := m.relayProgress(ctx, req.Params.Meta)
		defer done()
		out.Params.Meta = meta
		return answered(cl.CallTool(ctx, out))
	}, attribute.String("gen_ai.tool.name", tool))
	if err != nil {
		return toolError("%s", err.Error())
	}
	return rewriteContent(toolset, res)
}

func scopeStrings(p *principal.Principal) []string {
	scopes := p.Token.Scopes.Scopes()
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

// principalOf returns the request's principal if it has a handle.
func principalOf(ctx context.Context) *principal.Principal {
	p := principal.FromContext(ctx)
	if p == nil || p.Handle == nil {
		return nil
	}
	return p
}

func toolError(format string, args ...any) *mcp.CallToolResult {
	return mcp.NewToolResultError(fmt.Sprintf(format, args...))
}

// describe turns an upstream error into one line for a person: the
// transport's wrapping removed, upstream text bounded.
func describe(err error, ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return "the upstream did not answer in time"
	}
	var te *transport.Error
	if errors.As(err, &te) && te.Err != nil {
		err = te.Err
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "…"
	}
	return msg
}

// Package toolsets serves a handle's tools from its upstream Toolsets. Every
// tool of every Toolset is registered once in the runtime's one MCP server as
// {toolset}_{tool}; a tool filter shows each handle only the tools of the
// Toolsets its spec.toolsets names, and a call is forwarded to the upstream
// with a token the runtime mints for the call, never the client's token.
//
// Tool lists are fetched from each upstream with a token minted for the
// runtime itself (subject SystemSubject, no scopes), refreshed when the
// Toolset's spec changes, every RefreshInterval, and when a modern upstream
// sends notifications/tools/list_changed. The replica elected to write
// status (Manager.Leader) reports what it saw in the Toolset's status
// (Reachable, toolCount, observedGeneration).
package toolsets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
)

const (
	// FieldManager is the runtime's field manager for status writes.
	FieldManager = "mcp-handle-runtime"
	// SystemSubject is the subject of the tokens the runtime mints for
	// itself, to list an upstream's tools. Such a token carries no scopes.
	SystemSubject = "system:mcp-runtime"
	// SystemHandle is the handle claim of those tokens. It is not a valid
	// handle name (it has a colon), so it never names a real handle's data.
	SystemHandle = "system:mcp-runtime"
	// SystemClientID is the client id claim of those tokens.
	SystemClientID = "mcp-runtime"

	// DefaultTimeout bounds a call to an upstream whose Toolset sets no
	// spec.timeout.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxInFlight is how many calls may be in flight to one upstream
	// at once; the next call is refused with a tool error at once.
	DefaultMaxInFlight = 32
	// DefaultRefreshInterval is how often an upstream's tool list is
	// fetched again.
	DefaultRefreshInterval = 5 * time.Minute
	// DefaultRetryInterval is the first retry after a failed list; it
	// doubles on each failure up to the refresh interval. It is short
	// because a first list often fails for a moment only: on a cold start
	// the toolset cannot yet fetch the JWK Set of a runtime that is itself
	// starting.
	DefaultRetryInterval = time.Second
	// DefaultMinRefreshInterval bounds how often an upstream whose lists
	// say they expire sooner (ttlMs) is asked for them again.
	DefaultMinRefreshInterval = 5 * time.Second
	// MaxTools is the most tools one upstream may list.
	MaxTools = 1000
)

// Minter mints the token the runtime sends to an upstream; audience is the
// Toolset's spec.url. *upstream.Minter is one.
type Minter interface {
	Mint(audience string, c upstream.Claims, now time.Time) (string, error)
}

// Leader says whether this replica is the one that writes status.
// *leader.Elector is one.
type Leader interface{ Leading() bool }

// Tool is what the runtime knows of one registered tool.
type Tool struct {
	// Toolset is the name of the Toolset the tool comes from.
	Toolset string
	// Upstream is the tool's name as the upstream lists it.
	Upstream string
	// Scopes are the scopes a caller's token needs to call the tool (all of
	// them); empty means none beyond connecting.
	Scopes []mcpv1alpha1.Scope
}

// Manager keeps the tools of every Toolset registered in Server and forwards
// their calls. Set the exported fields, then call Start (or Sync and Remove
// from your own event handlers). The zero values of the optional fields
// select the defaults.
type Manager struct {
	// Server is the MCP server the tools are registered in. Give it
	// server.WithToolFilter(m.Filter).
	Server *server.MCPServer
	// Reader reads Toolsets (the informer cache).
	Reader client.Reader
	// Writer applies Toolset status; nil writes no status.
	Writer client.Client
	// Leader says whether this replica writes status now (the elected one
	// among the replicas, runtime/leader); nil: it always does.
	Leader Leader
	// Minter mints upstream tokens.
	Minter Minter
	// HTTPClient reaches the upstreams; http.DefaultClient when nil. It must
	// not have a Timeout: the tools/list_changed stream stays open.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives refresh failures; slog.Default() when nil.
	Log *slog.Logger
	// MaxInFlight bounds the calls in flight to each upstream;
	// DefaultMaxInFlight when 0.
	MaxInFlight int
	// RefreshInterval is how often tool lists are refreshed;
	// DefaultRefreshInterval when 0.
	RefreshInterval time.Duration
	// RetryInterval is the first retry after a failed list;
	// DefaultRetryInterval when 0.
	RetryInterval time.Duration
	// MinRefreshInterval is the shortest time between two lists of an
	// upstream whose lists expire sooner (ttlMs);
	// DefaultMinRefreshInterval when 0.
	MinRefreshInterval time.Duration
	// TokenReuse is how long an upstream token is reused for calls with the
	// same grant, scopes and toolset; 0 mints one per call. Keep it well
	// under the tokens' lifetime, so an upstream never sees one about to
	// expire.
	TokenReuse time.Duration
	// Metrics records each call to an upstream (runtime/metrics); nil
	// records nothing.
	Metrics interface {
		ObserveUpstream(toolset, operation string, took time.Duration, err error)
	}

	// regMu serializes changes of the registration (the server's tools and
	// the tools map together). It is never held by readers.
	regMu sync.Mutex
	// mu guards tools, sets and base; it is held only for map operations,
	// never while calling into the server.
	mu    sync.RWMutex
	tools map[string]entry
	sets  map[string]*state
	base  context.Context
	// prompts maps a registered prompt name to the state that registered
	// it; mu guards it.
	prompts map[string]*state
	// tokens are upstream tokens kept for reuse.
	tokens tokenCache
	// progress relays upstream progress to clients (relay.go).
	progress progressRelay
	// pages are upstream list pages kept for their caching hints
	// (resources.go).
	pages pageCache
	// subs are the client sessions subscribed to resources
	// (subscriptions.go).
	subs subscriptions
	// held are the calls held open for their client's input (inputs.go).
	held heldCalls
}

// entry is one registered tool and the state that registered it.
type entry struct {
	Tool
	owner *state
}

// state is one Toolset: its worker, its upstream connection and the tools it
// registered.
type state struct {
	name    string
	ctx     context.Context
	cancel  context.CancelFunc
	poke    chan struct{}
	done    chan struct{}
	removed atomic.Bool

	// refreshMu serializes refreshes; it guards the fields below, except
	// conn which mu also guards (calls read it).
	refreshMu  sync.Mutex
	conn       *conn
	registered map[string]mcp.Tool
	prompts    map[string]mcp.Prompt
	count      int32
	// ttl is how long the upstream said its last lists may be kept
	// (2026-07-28 ttlMs; 0: no time given): they are fetched again then,
	// if that is sooner than the refresh interval.
	ttl time.Duration

	// readScopes are the Toolset's spec.scopes.read: what reading its
	// resources and prompts needs. mu guards it.
	readScopes []mcpv1alpha1.Scope
	// offersResources says the upstream declared the resources capability.
	offersResources atomic.Bool

	// listed says the last fetch of the tools succeeded.
	listed atomic.Bool
	// failingSince is when fetches started failing (Unix nanoseconds; 0
	// while they succeed), and timedOut says the last one did not answer
	// in time: the bootstrap check waits only for a toolset that fails
	// fast and has not failed for long, one that is coming up.
	failingSince atomic.Int64
	timedOut     atomic.Bool

	// fetched is closed when the first fetch of the tools has ended, with
	// or without them: until then the Toolset is warming up.
	fetched     chan struct{}
	fetchedOnce sync.Once
}

// markFetched records that st's first fetch has ended.
func (st *state) markFetched() { st.fetchedOnce.Do(func() { close(st.fetched) }) }

// isFetched reports whether st's first fetch has ended.
func (st *state) isFetched() bool {
	select {
	case <-st.fetched:
		return true
	default:
		return false
	}
}

// upstreamToolName is what an upstream tool name must look like to be
// registered (the MCP tool name alphabet).
var upstreamToolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// ServerOptions are the options of the MCP server the Manager serves the
// toolsets through (Server): what the handle's toolsets offer passes
// through (docs/mcp.md, "Capabilities") — tools and prompts registered per
// toolset and filtered per handle, resources listed live, completions
// forwarded, resource updates relayed to the subscribed sessions — with
// hooks, to which the Manager adds its own. Call Register once the server
// exists.
func (m *Manager) ServerOptions(hooks *server.Hooks) []server.ServerOption {
	m.ResourceHooks(hooks)
	m.SubscriptionHooks(hooks)
	return []server.ServerOption{
		server.WithToolCapabilities(true), server.WithToolFilter(m.Filter),
		server.WithPromptCapabilities(true), server.WithPromptFilter(m.PromptFilter),
		server.WithResourceCapabilities(true, true),
		server.WithCompletions(), server.WithPromptCompletionProvider(m), server.WithResourceCompletionProvider(m),
		server.WithLogging(),
		server.WithHooks(hooks),
	}
}

// Register registers in Server what the Manager serves before any toolset:
// the template through which resource reads reach it.
func (m *Manager) Register() { m.Server.AddResourceTemplates(m.ResourceTemplate()) }

// Name returns the registered name of an upstream tool. Toolset names are
// DNS subdomains, which have no underscore, so the name is unique across
// toolsets and the first underscore splits it back.
func Name(toolset, tool string) string { return toolset + "_" + tool }

// ToolScopes returns the scopes a tool of a Toolset needs: the spec.tools
// override by tool name; else spec.scopes.read for a tool the upstream marks
// readOnlyHint=true and spec.scopes.write for every other tool.
func ToolScopes(spec *mcpv1alpha1.ToolsetSpec, t *mcp.Tool) []mcpv1alpha1.Scope {
	for _, o := range spec.Tools {
		if o.Name == t.Name {
			return slices.Clone(o.Scopes)
		}
	}
	if spec.Scopes == nil {
		return nil
	}
	if ro := t.Annotations.ReadOnlyHint; ro != nil && *ro {
		return slices.Clone(spec.Scopes.Read)
	}
	return slices.Clone(spec.Scopes.Write)
}

// Timeout returns a Toolset's call timeout.
func Timeout(spec *mcpv1alpha1.ToolsetSpec) time.Duration {
	if spec.Timeout != nil && spec.Timeout.Duration > 0 {
		return spec.Timeout.Duration
	}
	return DefaultTimeout
}

// names reports whether h's spec.toolsets names toolset.
func names(h *mcpv1alpha1.Handle, toolset string) bool {
	if h == nil {
		return false
	}
	for _, r := range h.Spec.Toolsets {
		if r.Name == toolset {
			return true
		}
	}
	return false
}

// Lookup returns the registered tool name of h, or false when there is no
// such tool or h does not name its Toolset.
func (m *Manager) Lookup(h *mcpv1alpha1.Handle, name string) (Tool, bool) {
	m.mu.RLock()
	e, ok := m.tools[name]
	m.mu.RUnlock()
	if !ok || e.owner.removed.Load() || !names(h, e.Toolset) {
		return Tool{}, false
	}
	t := e.Tool
	t.Scopes = slices.Clone(t.Scopes)
	return t, true
}

// ToolScopes returns the scopes a handle's tool needs, and false when the
// handle has no such tool: Lookup in the shape of the endpoint's scope check
// (endpoint.Tools).
func (m *Manager) ToolScopes(h *mcpv1alpha1.Handle, name string) ([]mcpv1alpha1.Scope, bool) {
	t, ok := m.Lookup(h, name)
	return t.Scopes, ok
}

// Filter is the server's tool filter: it keeps the tools of the Toolsets the
// principal's handle names. Without a principal it keeps nothing. Tools the
// Manager did not register pass through when there is a principal (the
// endpoint may register its own).
func (m *Manager) Filter(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	p := principalOf(ctx)
	if p == nil {
		return nil
	}
	out := make([]mcp.Tool, 0, len(tools))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, t := range tools {
		e, ok := m.tools[t.Name]
		if !ok {
			out = append(out, t)
			continue
		}
		if !e.owner.removed.Load() && names(p.Handle, e.Toolset) {
			out = append(out, t)
		}
	}
	return out
}

// Tools returns every registered tool, by name (for tests and diagnostics).
func (m *Manager) Tools() map[string]Tool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]Tool, len(m.tools))
	for name, e := range m.tools {
		if !e.owner.removed.Load() {
			out[name] = e.Tool
		}
	}
	return out
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

func (m *Manager) httpClient() *http.Client {
	if m.HTTPClient != nil {
		return m.HTTPClient
	}
	return http.DefaultClient
}

func (m *Manager) maxInFlight() int {
	if m.MaxInFlight > 0 {
		return m.MaxInFlight
	}
	return DefaultMaxInFlight
}

func (m *Manager) refreshInterval() time.Duration {
	if m.RefreshInterval > 0 {
		return m.RefreshInterval
	}
	return DefaultRefreshInterval
}

func (m *Manager) minRefreshInterval() time.Duration {
	if m.MinRefreshInterval > 0 {
		return m.MinRefreshInterval
	}
	return DefaultMinRefreshInterval
}

func (m *Manager) retryInterval() time.Duration {
	if m.RetryInterval > 0 {
		return m.RetryInterval
	}
	return DefaultRetryInterval
}

// systemToken mints the runtime's own token for an upstream: for listing its
// tools, initializing a connection and listening for tools/list_changed.
func (m *Manager) systemToken(audience string) (string, error) {
	return m.Minter.Mint(audience, upstream.Claims{Handle: SystemHandle, Subject: SystemSubject, ClientID: SystemClientID}, m.now())
}

// Sync makes the Manager (re)fetch the tools of the named Toolset soon, in
// the background; the first Sync of a name starts its refresh worker. It
// never blocks, so an informer event handler may call it.
func (m *Manager) Sync(name string) {
	st := m.state(name)
	select {
	case st.poke <- struct{}{}:
	default:
	}
}

// SyncAll makes the Manager fetch every Toolset's tools again soon: a
// replica that has just become the status writer writes what it sees.
func (m *Manager) SyncAll() {
	m.mu.RLock()
	names := make([]string, 0, len(m.sets))
	for name := range m.sets {
		names = append(names, name)
	}
	m.mu.RUnlock()
	for _, name := range names {
		m.Sync(name)
	}
}

// Remove forgets the named Toolset: its tools disappear at once from every
// handle's list, and are deleted from the server in the background.
func (m *Manager) Remove(name string) {
	m.mu.Lock()
	st := m.sets[name]
	delete(m.sets, name)
	m.mu.Unlock()
	if st == nil {
		return
	}
	st.removed.Store(true)
	st.cancel()
	go func() {
		st.refreshMu.Lock()
		defer st.refreshMu.Unlock()
		m.unregister(st)
		if st.conn != nil {
			st.conn.close()
		}
	}()
}

// Refresh fetches the named Toolset's tools now, registers them and writes
// its status; it returns the upstream's error, if any. A Toolset that no
// longer exists is removed.
func (m *Manager) Refresh(ctx context.Context, name string) error {
	return m.refresh(ctx, m.state(name))
}

// state returns the named Toolset's state, creating it and its worker.
func (m *Manager) state(name string) *state {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.sets[name]; st != nil {
		return st
	}
	if m.sets == nil {
		m.sets = map[string]*state{}
		m.tools = map[string]entry{}
		m.prompts = map[string]*state{}
	}
	base := m.base
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	st := &state{name: name, ctx: ctx, cancel: cancel, poke: make(chan struct{}, 1), done: make(chan struct{}), fetched: make(chan struct{})}
	m.sets[name] = st
	go m.work(st)
	return st
}

// work refreshes st when poked, every refresh interval, and sooner after a
// failure.
func (m *Manager) work(st *state) {
	defer close(st.done)
	timer := time.NewTimer(m.refreshInterval())
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-st.ctx.Done():
			return
		case <-st.poke:
		case <-timer.C:
		}
		next := m.refreshInterval()
		err := m.refresh(st.ctx, st)
		if ttl := m.listTTL(st); err == nil && ttl > 0 {
			next = min(next, max(ttl, m.minRefreshInterval()))
		}
		if err != nil {
			if st.ctx.Err() != nil {
				return
			}
			failures++
			retry := m.retryInterval() << min(failures-1, 10)
			next = min(retry, next)
			m.log().Info("toolset tools not refreshed", "toolset", st.name, "error", err, "retryIn", next)
		} else {
			failures = 0
		}
		timer.Reset(next)
	}
}

func (m *Manager) refresh(ctx context.Context, st *state) error {
	// Whatever the outcome, the Toolset is no longer warming up: a call
	// waits for one fetch (bounded by the toolset's timeout), never for an
	// upstream that does not answer.
	defer st.markFetched()
	ts := &mcpv1alpha1.Toolset{}
	if err := m.Reader.Get(ctx, client.ObjectKey{Name: st.name}, ts); err != nil {
		if apierrors.IsNotFound(err) {
			m.Remove(st.name)
			return nil
		}
		return fmt.Errorf("failed to read the Toolset: %w", err)
	}
	st.refreshMu.Lock()
	defer st.refreshMu.Unlock()
	if st.removed.Load() {
		return nil
	}
	c := m.connect(st, &ts.Spec)
	listCtx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	listStart := time.Now()
	tools, ttl, listErr := c.list(listCtx, func() (string, error) { return m.systemToken(c.url) })
	m.observe(st.name, "tools/list", listStart, listErr)
	if listErr == nil && len(tools) > MaxTools {
		listErr = fmt.Errorf("the upstream lists %d tools, more than %d", len(tools), MaxTools)
	}
	st.listed.Store(listErr == nil)
	st.timedOut.Store(listErr != nil && (errors.Is(listErr, context.DeadlineExceeded) || errors.Is(listCtx.Err(), context.DeadlineExceeded)))
	if listErr == nil {
		st.failingSince.Store(0)
	} else {
		st.failingSince.CompareAndSwap(0, m.now().UnixNano())
	}
	if listErr == nil {
		st.count = m.register(st, ts, tools)
		st.ttl = shortest(ttl, m.refreshReadable(listCtx, st, c, &ts.Spec))
		c.listen(func() (string, error) { return m.systemToken(c.url) }, func() {
			select {
			case st.poke <- struct{}{}:
			default:
			}
		})
	} else {
		// One line for a person, in the status as in the returned error.
		listErr = errors.New(describe(listErr, listCtx))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := m.writeStatus(ctx, ts, st.count, listErr); err != nil {
		m.log().Error("toolset status not written", "toolset", st.name, "error", err)
	}
	if listErr != nil {
		return fmt.Errorf("toolset %q: %w", st.name, listErr)
	}
	return nil
}

// connect returns st's connection for spec, replacing it when the URL
// changed; the tools of the old URL are unregistered then, since they are
// another server's. Called with st.refreshMu held.
func (m *Manager) connect(st *state, spec *mcpv1alpha1.ToolsetSpec) *conn {
	old := st.conn
	if old != nil && old.url == spec.URL {
		old.setTimeout(Timeout(spec))
		return old
	}
	c := newConn(st.ctx, spec.URL, Timeout(spec), m.maxInFlight(), m.httpClient(), m.log())
	c.notify = func(n mcp.JSONRPCNotification) { m.notified(st, n) }
	m.mu.Lock()
	st.conn = c
	m.mu.Unlock()
	if old != nil {
		m.unregister(st)
		st.count = 0
		old.close()
	}
	return c
}

// register makes the server's tools of st those of list, adding and deleting
// only what changed (each change notifies the connected clients). It returns
// how many tools are registered.
func (m *Manager) register(st *state, ts *mcpv1alpha1.Toolset, list []mcp.Tool) int32 {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if st.removed.Load() {
		return 0
	}
	next := make(map[string]mcp.Tool, len(list))
	meta := make(map[string]Tool, len(list))
	for i := range list {
		ut := &list[i]
		if !upstreamToolName.MatchString(ut.Name) {
			m.log().Info("upstream tool skipped: invalid name", "toolset", ts.Name, "tool", ut.Name)
			continue
		}
		name := Name(ts.Name, ut.Name)
		t := *ut
		t.Name = name
		// Calls are forwarded synchronously; task-augmented execution is
		// not proxied.
		t.Execution = nil
		if err := mcp.ValidateParamHeaderAnnotations(&t); err != nil {
			m.log().Info("upstream tool skipped", "toolset", ts.Name, "tool", ut.Name, "error", err)
			continue
		}
		next[name] = t
		meta[name] = Tool{Toolset: ts.Name, Upstream: ut.Name, Scopes: ToolScopes(&ts.Spec, ut)}
	}
	var add []server.ServerTool
	for name, t := range next {
		if old, ok := st.registered[name]; !ok || !sameJSON(old, t) {
			add = append(add, server.ServerTool{Tool: t, Handler: m.handler(ts.Name, meta[name].Upstream)})
		}
	}
	var del []string
	for name := range st.registered {
		if _, ok := next[name]; !ok {
			del = append(del, name)
		}
	}
	// The map first for additions (the filter must know a tool before a
	// client can see it), the server first for deletions.
	m.mu.Lock()
	for name, t := range meta {
		m.tools[name] = entry{Tool: t, owner: st}
	}
	m.mu.Unlock()
	if len(add) > 0 {
		if err := addTools(m.Server, add); err != nil {
			m.log().Error("upstream tools not registered", "toolset", ts.Name, "error", err)
			m.mu.Lock()
			for name := range meta {
				if _, ok := st.registered[name]; !ok {
					delete(m.tools, name)
				}
			}
			m.mu.Unlock()
			return st.count
		}
	}
	if len(del) > 0 {
		m.Server.DeleteTools(del...)
	}
	m.mu.Lock()
	for _, name := range del {
		if e, ok := m.tools[name]; ok && e.owner == st {
			delete(m.tools, name)
		}
	}
	m.mu.Unlock()
	st.registered = next
	return int32(len(next))
}

// unregister deletes st's tools from the server and the map, leaving any a
// newer state of the same Toolset registered since.
func (m *Manager) unregister(st *state) {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	var del []string
	m.mu.RLock()
	for name := range st.registered {
		if e, ok := m.tools[name]; ok && e.owner == st {
			del = append(del, name)
		}
	}
	m.mu.RUnlock()
	if len(del) > 0 {
		m.Server.DeleteTools(del...)
	}
	m.mu.Lock()
	for _, name := range del {
		delete(m.tools, name)
	}
	m.mu.Unlock()
	st.registered = nil
	m.deletePrompts(st, slices.Collect(maps.Keys(st.prompts)))
	st.prompts = nil
	m.forgetPages(st.name)
}

// addTools registers tools; the server panics on a tool it refuses.
func addTools(s *server.MCPServer, tools []server.ServerTool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the MCP server refused the tools: %v", r)
		}
	}()
	s.AddTools(tools...)
	return nil
}

func sameJSON[T any](a, b T) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// errNoPrincipal is the call error without an authenticated handle.
var errNoPrincipal = errors.New("no authenticated handle")

// refreshReadable fetches what the toolset offers besides tools: its
// prompts (registered like its tools) and whether it offers resources (read
// live, resources.go). A failure keeps what was registered and is logged:
// the tools stand on their own. It returns how long the prompts may be
// kept (0: no time given). Called with st.refreshMu held.
func (m *Manager) refreshReadable(ctx context.Context, st *state, c *conn, spec *mcpv1alpha1.ToolsetSpec) time.Duration {
	m.mu.Lock()
	st.readScopes = nil
	if spec.Scopes != nil {
		st.readScopes = slices.Clone(spec.Scopes.Read)
	}
	m.mu.Unlock()
	if cl := c.client.Load(); cl != nil {
		st.offersResources.Store(cl.GetServerCapabilities().Resources != nil)
	}
	prompts, ttl, err := c.listPrompts(ctx, func() (string, error) { return m.systemToken(c.url) })
	if err != nil {
		m.log().Info("toolset prompts not refreshed", "toolset", st.name, "error", describe(err, ctx))
		return 0
	}
	m.registerPrompts(st, prompts)
	return ttl
}

// shortest is the shorter of two keeping times, 0 meaning none given.
func shortest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// notified handles a notification of st's upstream on the runtime's
// session: progress of a forwarded request is relayed to its client, a
// changed prompt list is fetched again, a changed resource list drops the
// pages kept of it and is announced, a resource update goes to the
// sessions subscribed to it. The rest is the runtime's own session's (relay.go).
func (m *Manager) notified(st *state, n mcp.JSONRPCNotification) {
	switch mcp.MCPMethod(n.Method) {
	case mcp.MethodNotificationProgress:
		m.progress.deliver(n)
	case mcp.MethodNotificationPromptsListChanged:
		m.Sync(st.name)
	case mcp.MethodNotificationResourcesListChanged:
		// Like the runtime's own tools and prompts list_changed, it goes to
		// every client (on 2026-07-28, those listening for it): it says
		// nothing but "list again", and each lists its own.
		m.forgetPages(st.name)
		if m.Server != nil {
			m.Server.SendNotificationToAllClients(string(mcp.MethodNotificationResourcesListChanged), nil)
		}
	case mcp.MethodNotificationResourceUpdated:
		m.updated(st.name, n)
	}
}

// listTTL returns how long st's last lists may be kept.
func (m *Manager) listTTL(st *state) time.Duration {
	st.refreshMu.Lock()
	defer st.refreshMu.Unlock()
	return st.ttl
}

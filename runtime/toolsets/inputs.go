package toolsets

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// Protocol 2026-07-28 has no server-to-client requests: a server that needs
// input answers input_required, with the requests and a request state, and
// the client calls again with the answers (SEP-2322). An upstream asks the
// runtime in either way (a request on the call's stream, or input_required,
// which mcp-go's client fulfils through the same handlers), and the runtime
// holds the upstream call open while it asks its own client: a 2026-07-28
// client's tools/call or prompts/get is answered input_required, with a
// request state naming the call held on this replica, and its next call
// with that state delivers the answers and waits for the upstream again. The held call is bounded by the
// toolset's timeout like any other, and reached only from the grant that
// started it; a retry that reaches another replica finds no call and is
// told to call again.

// maxHeldCalls bounds the calls held open for their client's input.
const maxHeldCalls = 1000

// heldCall is a forwarded tools/call whose upstream may ask for input.
type heldCall struct {
	grant string
	// asks are the upstream's requests for input, for the client's call.
	asks chan *inputAsk
	// result is the upstream's answer, once.
	result chan held
	// cancel ends the upstream call: its client left without asking to be
	// asked for input.
	cancel context.CancelFunc

	mu   sync.Mutex
	open map[string]*inputAsk
}

// inputAsk is one request for input and where its answer goes.
type inputAsk struct {
	id      string
	request mcp.InputRequest
	answer  chan mcp.InputResponse
}

type heldCallKey struct{}

// heldCalls are the calls held on this replica, by request state.
type heldCalls struct {
	mu    sync.Mutex
	calls map[string]*heldCall
}

var errHeldCallUnknown = errors.New("the call this answers is unknown or over (or was held by another replica): call the tool again")

// resumable reports whether a call is answered input_required when its
// upstream asks for input: a 2026-07-28 client's.
func resumable(ctx context.Context) bool {
	info := server.RequestProtocolInfoFromContext(ctx)
	return info != nil && info.Modern
}

// held is what a held request came to: the upstream's answer (v, err),
// or requests for input to answer input_required with, under state.
type held struct {
	v      any
	err    error
	inputs mcp.InputRequests
	state  string
}

// hold runs a 2026-07-28 client's forwarded request (run), or continues the
// one its request state names with the client's answers, and returns what
// comes first: the upstream's answer, or its requests for input.
func (m *Manager) hold(ctx context.Context, state string, answers mcp.InputResponses, run func(context.Context) (any, error)) held {
	p := principalOf(ctx)
	if p == nil {
		return held{err: errNoPrincipal}
	}
	var call *heldCall
	if state != "" {
		if call = m.held.take(state, p); call == nil {
			return held{err: errHeldCallUnknown}
		}
		call.deliver(answers)
		if call.hasOpen() {
			m.held.keep(state, call)
			return call.inputsHeld(state)
		}
	} else {
		var err error
		if state, call, err = m.held.start(p); err != nil {
			return held{err: err}
		}
		// The upstream call outlives this request when it asks for input:
		// the client's next call continues it. Its values (principal,
		// session) stay.
		ctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), heldCallKey{}, call))
		call.cancel = cancel
		go func() {
			defer cancel()
			v, err := run(ctx)
			call.result <- held{v: v, err: err}
		}()
	}
	select {
	case res := <-call.result:
		return res
	case ask := <-call.asks:
		call.mu.Lock()
		call.open[ask.id] = ask
		call.mu.Unlock()
		m.held.keep(state, call)
		return call.inputsHeld(state)
	case <-ctx.Done():
		// The client left (or cancelled): so does the upstream call.
		call.cancel()
		return held{err: errors.New("the request ended before the toolset answered")}
	}
}

// callResumable is a 2026-07-28 client's tools/call: held (hold), its
// requests for input answered input_required.
func (m *Manager) callResumable(ctx context.Context, toolset, tool string, req mcp.CallToolRequest) *mcp.CallToolResult {
	h := m.hold(ctx, req.Params.RequestState, req.Params.InputResponses, func(ctx context.Context) (any, error) {
		return m.callOnce(ctx, toolset, tool, req), nil
	})
	switch {
	case h.inputs != nil:
		res := &mcp.CallToolResult{Result: mcp.Result{ResultType: mcp.ResultTypeInputRequired}}
		res.InputRequests, res.RequestState = h.inputs, h.state
		return res
	case h.err != nil:
		return toolError("tool %q: %v", Name(toolset, tool), h.err)
	}
	return h.v.(*mcp.CallToolResult)
}

// ask asks the client of the held call in ctx for input and waits for the
// answer; false when ctx holds no call (the client is asked directly).
func ask(ctx context.Context, request mcp.InputRequest) (mcp.InputResponse, bool, error) {
	call, _ := ctx.Value(heldCallKey{}).(*heldCall)
	if call == nil {
		return mcp.InputResponse{}, false, nil
	}
	a := &inputAsk{id: "input-" + tokens.RandomID()[:12], request: request, answer: make(chan mcp.InputResponse, 1)}
	select {
	case call.asks <- a:
	case <-ctx.Done():
		return mcp.InputResponse{}, true, ctx.Err()
	}
	select {
	case answer := <-a.answer:
		return answer, true, nil
	case <-ctx.Done():
		return mcp.InputResponse{}, true, ctx.Err()
	}
}

// deliver hands the client's answers to the asks waiting for them; asks it
// does not answer (or answers with something else) stay open.
func (c *heldCall) deliver(responses mcp.InputResponses) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, a := range c.open {
		one := mcp.InputResponses{id: responses[id]}
		if _, ok := responses[id]; !ok || one.DecodeFor(mcp.InputRequests{id: a.request}) != nil {
			continue
		}
		a.answer <- one[id]
		delete(c.open, id)
	}
}

// inputsHeld is the open asks, to answer input_required with.
func (c *heldCall) inputsHeld(state string) held {
	c.mu.Lock()
	defer c.mu.Unlock()
	inputs := mcp.InputRequests{}
	for id, a := range c.open {
		inputs[id] = a.request
	}
	return held{inputs: inputs, state: state}
}

func (c *heldCall) hasOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open) > 0
}

// start holds a new call of p's grant and returns its request state.
func (h *heldCalls) start(p *principal.Principal) (string, *heldCall, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) >= maxHeldCalls {
		return "", nil, errors.New("too many calls wait for their clients' input on this replica; try again shortly")
	}
	return tokens.RandomID(), &heldCall{grant: p.Token.Grant, asks: make(chan *inputAsk), result: make(chan held, 1),
		open: map[string]*inputAsk{}}, nil
}

// keep makes a held call reachable by its request state until the toolset
// could still answer.
func (h *heldCalls) keep(state string, call *heldCall) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calls == nil {
		h.calls = map[string]*heldCall{}
	}
	h.calls[state] = call
	time.AfterFunc(maxHeldFor, func() { h.forget(state, call) })
}

// maxHeldFor bounds how long a held call stays reachable (the longest
// toolset timeout).
const maxHeldFor = 5 * time.Minute

func (h *heldCalls) forget(state string, call *heldCall) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calls[state] == call {
		delete(h.calls, state)
	}
}

// take returns the held call of a request state if p's grant started it,
// and makes it unreachable until kept again.
func (h *heldCalls) take(state string, p *principal.Principal) *heldCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	call := h.calls[state]
	if call == nil || call.grant != p.Token.Grant {
		return nil
	}
	delete(h.calls, state)
	return call
}

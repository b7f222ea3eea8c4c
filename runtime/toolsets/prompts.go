package toolsets

import (
	"context"
	"fmt"
	"strings"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
)

// MaxPrompts is the most prompts one upstream may list.
const MaxPrompts = 1000

// Prompts are definitions, like tools: they are fetched with the tools (with
// the runtime's own token), registered in the server as {toolset}_{prompt},
// shown to each handle by PromptFilter, and prompts/get is forwarded with a
// token minted for the caller, who needs the toolset's read scopes
// (ReadScopes).

// listPrompts returns the upstream's prompts, none when it offers none.
func (c *conn) listPrompts(ctx context.Context, token func() (string, error)) ([]mcp.Prompt, time.Duration, error) {
	cl := c.client.Load()
	if cl == nil || cl.GetServerCapabilities().Prompts == nil {
		return nil, 0, nil
	}
	tok, err := token()
	if err != nil {
		return nil, 0, fmt.Errorf("failed to mint the runtime's token: %w", err)
	}
	ctx, end := traceUpstream(ctx, "prompts/list", c.url)
	res, err := cl.ListPrompts(withToken(ctx, tok), mcp.ListPromptsRequest{})
	end(err)
	if err != nil {
		return nil, 0, err
	}
	if len(res.Prompts) > MaxPrompts {
		return nil, 0, fmt.Errorf("the upstream lists %d prompts, more than %d", len(res.Prompts), MaxPrompts)
	}
	return res.Prompts, ttlOf(res.CacheableResult), nil
}

// registerPrompts makes the server's prompts of st those of list, adding
// and deleting only what changed. Called with st.refreshMu held.
func (m *Manager) registerPrompts(st *state, list []mcp.Prompt) {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if st.removed.Load() {
		return
	}
	next := make(map[string]mcp.Prompt, len(list))
	for _, p := range list {
		if !upstreamToolName.MatchString(p.Name) {
			m.log().Info("upstream prompt skipped: invalid name", "toolset", st.name, "prompt", p.Name)
			continue
		}
		upstreamName := p.Name
		p.Name = Name(st.name, upstreamName)
		next[p.Name] = p
	}
	var add []server.ServerPrompt
	for name, p := range next {
		if old, ok := st.prompts[name]; !ok || !sameJSON(old, p) {
			add = append(add, server.ServerPrompt{Prompt: p, Handler: m.promptHandler(st.name, strings.TrimPrefix(name, st.name+"_"))})
		}
	}
	var del []string
	for name := range st.prompts {
		if _, ok := next[name]; !ok {
			del = append(del, name)
		}
	}
	m.mu.Lock()
	for name := range next {
		m.prompts[name] = st
	}
	m.mu.Unlock()
	if len(add) > 0 {
		m.Server.AddPrompts(add...)
	}
	m.deletePrompts(st, del)
	st.prompts = next
}

// deletePrompts deletes prompts of st from the server and the map.
func (m *Manager) deletePrompts(st *state, names []string) {
	if len(names) == 0 {
		return
	}
	m.Server.DeletePrompts(names...)
	m.mu.Lock()
	for _, name := range names {
		if m.prompts[name] == st {
			delete(m.prompts, name)
		}
	}
	m.mu.Unlock()
}

// promptHandler forwards prompts/get of one upstream prompt.
func (m *Manager) promptHandler(toolset, prompt string) server.PromptHandlerFunc {
	get := func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		out := mcp.GetPromptRequest{}
		out.Params.Name = prompt
		out.Params.Arguments = req.Params.Arguments
		res, err := forward(ctx, m, toolset, "prompts/get", func(ctx context.Context, cl *mcpclient.Client) (*mcp.GetPromptResult, error) {
			return answered(cl.GetPrompt(ctx, out))
		}, attribute.String("mcp.prompt.name", prompt))
		if err != nil {
			return nil, err
		}
		for i := range res.Messages {
			res.Messages[i].Content = rewriteContentItem(toolset, res.Messages[i].Content)
		}
		return res, nil
	}
	return func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		if !resumable(ctx) {
			return get(ctx, req)
		}
		// A 2026-07-28 client's: held while the upstream asks for input
		// (inputs.go).
		h := m.hold(ctx, req.Params.RequestState, req.Params.InputResponses, func(ctx context.Context) (any, error) { return get(ctx, req) })
		switch {
		case h.inputs != nil:
			return &mcp.GetPromptResult{Result: mcp.Result{ResultType: mcp.ResultTypeInputRequired},
				MultiRoundTripResult: mcp.MultiRoundTripResult{InputRequests: h.inputs, RequestState: h.state}}, nil
		case h.err != nil:
			return nil, h.err
		}
		return h.v.(*mcp.GetPromptResult), nil
	}
}

// PromptFilter is the server's prompt filter: it keeps the prompts of the
// Toolsets the principal's handle names.
func (m *Manager) PromptFilter(ctx context.Context, prompts []mcp.Prompt) []mcp.Prompt {
	p := principalOf(ctx)
	if p == nil {
		return nil
	}
	out := make([]mcp.Prompt, 0, len(prompts))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, pr := range prompts {
		if st := m.prompts[pr.Name]; st != nil && !st.removed.Load() && names(p.Handle, st.name) {
			out = append(out, pr)
		}
	}
	return out
}

// promptToolset returns the toolset that registered a prompt name.
func (m *Manager) promptToolset(name string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if st := m.prompts[name]; st != nil && !st.removed.Load() {
		return st.name, true
	}
	return "", false
}

package toolsets

import (
	"context"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Completions of a prompt's or a resource template's arguments are asked
// of the toolset that offers it, with the caller's token: the Manager is
// the server's PromptCompletionProvider and ResourceCompletionProvider.
var (
	_ server.PromptCompletionProvider   = (*Manager)(nil)
	_ server.ResourceCompletionProvider = (*Manager)(nil)
)

// CompletePromptArgument forwards completion/complete for a prompt.
func (m *Manager) CompletePromptArgument(ctx context.Context, prompt string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	toolset, ok := m.promptToolset(prompt)
	if !ok {
		return nil, forwardErrorf("no prompt %q", prompt)
	}
	return m.complete(ctx, toolset, mcp.PromptReference{Type: "ref/prompt", Name: prompt[len(toolset)+1:]}, arg, cc)
}

// CompleteResourceArgument forwards completion/complete for a resource
// template of a toolset: URI.
func (m *Manager) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	toolset, upstreamURI, ok := SplitResourceURI(uri)
	if !ok {
		return nil, forwardErrorf("%q is not a resource template of this endpoint", uri)
	}
	return m.complete(ctx, toolset, mcp.ResourceReference{Type: "ref/resource", URI: upstreamURI}, arg, cc)
}

func (m *Manager) complete(ctx context.Context, toolset string, ref any, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	out := mcp.CompleteRequest{}
	out.Params.Ref = ref
	out.Params.Argument = arg
	out.Params.Context = cc
	res, err := forward(ctx, m, toolset, "completion/complete", func(ctx context.Context, cl *mcpclient.Client) (*mcp.CompleteResult, error) {
		return answered(cl.Complete(ctx, out))
	})
	if err != nil {
		return nil, err
	}
	return &res.Completion, nil
}

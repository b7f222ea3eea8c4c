package toolsets

import "github.com/mark3labs/mcp-go/mcp"

// What an upstream answers may name its resources (resource links and
// embedded resources in tool results and prompt messages, the contents of
// a read): their URIs are rewritten as the lists' are (ResourceURI), so a
// client can read them through the runtime, from the toolset that named
// them.

// rewriteContent rewrites the resource URIs of a tool result.
func rewriteContent(toolset string, res *mcp.CallToolResult) *mcp.CallToolResult {
	for i, c := range res.Content {
		res.Content[i] = rewriteContentItem(toolset, c)
	}
	return res
}

// rewriteContentItem rewrites the URI of a resource link or an embedded
// resource; other content is returned as it is.
func rewriteContentItem(toolset string, c mcp.Content) mcp.Content {
	switch v := c.(type) {
	case mcp.ResourceLink:
		v.URI = ResourceURI(toolset, v.URI)
		return v
	case *mcp.ResourceLink:
		l := *v
		l.URI = ResourceURI(toolset, l.URI)
		return l
	case mcp.EmbeddedResource:
		v.Resource = rewriteResourceContents(toolset, v.Resource)
		return v
	case *mcp.EmbeddedResource:
		e := *v
		e.Resource = rewriteResourceContents(toolset, e.Resource)
		return e
	}
	return c
}

// rewriteResourceContents rewrites the URI of a resource's contents.
func rewriteResourceContents(toolset string, c mcp.ResourceContents) mcp.ResourceContents {
	if t, ok := mcp.AsTextResourceContents(c); ok {
		out := *t
		out.URI = ResourceURI(toolset, out.URI)
		return out
	}
	if b, ok := mcp.AsBlobResourceContents(c); ok {
		out := *b
		out.URI = ResourceURI(toolset, out.URI)
		return out
	}
	return c
}

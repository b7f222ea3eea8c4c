package toolsets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/yosida95/uritemplate/v3"
	"go.opentelemetry.io/otel/attribute"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// Resources are data, often the caller's own: unlike tools and prompts they
// are listed live, on each resources/list and resources/templates/list,
// from every toolset of the handle whose read scopes the caller holds, with
// a token minted for the caller. Every URI is rewritten to
// toolset:{toolset}:{upstream URI} (ResourceURI), so a read goes to the
// toolset that listed it, and only to a toolset of the caller's handle: a
// URI of another toolset cannot be reached by guessing.
//
// mcp-go keeps a static resource registry without a filter, so the lists
// are written by its after-list hooks (ResourceHooks) and reads reach the
// runtime through one catch-all template for the toolset: scheme
// (ResourceTemplate).

// uriPrefix starts every resource URI the runtime hands out.
const uriPrefix = "toolset:"

// ResourceURI returns the URI the runtime shows for an upstream's resource
// URI (or URI template): toolset:{toolset}:{uri}. Toolset names have no
// colon, so the first colon after the prefix splits it back.
func ResourceURI(toolset, uri string) string { return uriPrefix + toolset + ":" + uri }

// SplitResourceURI returns the toolset and the upstream URI of a URI the
// runtime handed out.
func SplitResourceURI(uri string) (toolset, upstreamURI string, ok bool) {
	rest, ok := strings.CutPrefix(uri, uriPrefix)
	if !ok {
		return "", "", false
	}
	toolset, upstreamURI, ok = strings.Cut(rest, ":")
	return toolset, upstreamURI, ok && toolset != "" && upstreamURI != ""
}

// ResourceTemplate is the catch-all template through which mcp-go hands
// every resources/read of a toolset: URI to the Manager. It is never listed
// (the hooks replace the list).
func (m *Manager) ResourceTemplate() server.ServerResourceTemplate {
	return server.ServerResourceTemplate{
		Template: mcp.NewResourceTemplate(uriPrefix+"{+uri}", "toolset resources"),
		Handler:  m.readResource,
	}
}

// ResourceHooks adds the hooks that write the handle's resource lists.
func (m *Manager) ResourceHooks(hooks *server.Hooks) {
	hooks.AddAfterListResources(func(ctx context.Context, _ any, req *mcp.ListResourcesRequest, res *mcp.ListResourcesResult) {
		page := listPage(ctx, m, "resources/list", req.Params.Cursor, func(ctx context.Context, cl *mcpclient.Client, cursor mcp.Cursor) (pageOf[mcp.Resource], error) {
			r, err := answered(cl.ListResourcesByPage(ctx, mcp.ListResourcesRequest{PaginatedRequest: mcp.PaginatedRequest{Params: mcp.PaginatedParams{Cursor: cursor}}}))
			if err != nil {
				return pageOf[mcp.Resource]{}, err
			}
			return pageOf[mcp.Resource]{items: r.Resources, next: r.NextCursor, hints: r.CacheableResult}, nil
		}, func(toolset string, r *mcp.Resource) bool {
			r.URI = ResourceURI(toolset, r.URI)
			return true
		})
		res.Resources, res.NextCursor = page.items, page.next
		page.hint(ctx, &res.CacheableResult)
	})
	hooks.AddAfterListResourceTemplates(func(ctx context.Context, _ any, req *mcp.ListResourceTemplatesRequest, res *mcp.ListResourceTemplatesResult) {
		page := listPage(ctx, m, "resources/templates/list", req.Params.Cursor, func(ctx context.Context, cl *mcpclient.Client, cursor mcp.Cursor) (pageOf[mcp.ResourceTemplate], error) {
			r, err := answered(cl.ListResourceTemplatesByPage(ctx, mcp.ListResourceTemplatesRequest{PaginatedRequest: mcp.PaginatedRequest{Params: mcp.PaginatedParams{Cursor: cursor}}}))
			if err != nil {
				return pageOf[mcp.ResourceTemplate]{}, err
			}
			return pageOf[mcp.ResourceTemplate]{items: r.ResourceTemplates, next: r.NextCursor, hints: r.CacheableResult}, nil
		}, func(toolset string, t *mcp.ResourceTemplate) bool {
			if t.URITemplate == nil || t.URITemplate.Template == nil {
				return false
			}
			rewritten, err := uritemplate.New(ResourceURI(toolset, t.URITemplate.Raw()))
			if err != nil {
				return false
			}
			t.URITemplate = &mcp.URITemplate{Template: rewritten}
			return true
		})
		res.ResourceTemplates, res.NextCursor = page.items, page.next
		page.hint(ctx, &res.CacheableResult)
	})
}

// readResource forwards a resources/read of a toolset: URI.
func (m *Manager) readResource(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	toolset, uri, ok := SplitResourceURI(req.Params.URI)
	if !ok {
		return nil, forwardErrorf("%q is not a resource URI of this endpoint", req.Params.URI)
	}
	out := mcp.ReadResourceRequest{}
	out.Params.URI = uri
	res, err := forward(ctx, m, toolset, "resources/read", func(ctx context.Context, cl *mcpclient.Client) (*mcp.ReadResourceResult, error) {
		return answered(cl.ReadResource(ctx, out))
	}, attribute.String("mcp.resource.uri", uri))
	if err != nil {
		return nil, err
	}
	for i, c := range res.Contents {
		res.Contents[i] = rewriteResourceContents(toolset, c)
	}
	return res.Contents, nil
}

// ReadScopes returns the scopes needed to read from the toolset that owns a
// prompt name or a resource URI (prompts/get, resources/read,
// completion/complete): its spec.scopes.read. False when none of the
// handle's toolsets owns it.
func (m *Manager) ReadScopes(h *mcpv1alpha1.Handle, prompt, uri string) ([]mcpv1alpha1.Scope, bool) {
	var toolset string
	var ok bool
	if uri != "" {
		toolset, _, ok = SplitResourceURI(uri)
	} else {
		toolset, ok = m.promptToolset(prompt)
	}
	if !ok || !names(h, toolset) {
		return nil, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := m.sets[toolset]
	if st == nil {
		return nil, false
	}
	return st.readScopes, true
}

// pageOf is one page of an upstream's list.
type pageOf[T any] struct {
	items []T
	next  mcp.Cursor
	hints mcp.CacheableResult
	// ttl is the shortest caching time of the pages it was made of; hinted
	// says every one of them had one.
	ttl    int64
	hinted bool
}

// hint sets the caching hints of a list a client gets, on 2026-07-28: as
// long as the upstream pages it was made of allow (the shortest), and only
// for the caller, whose token chose what it holds.
func (p pageOf[T]) hint(ctx context.Context, to *mcp.CacheableResult) {
	if !mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		return
	}
	ttl := int64(0)
	if p.hinted {
		ttl = p.ttl
	}
	to.SetCacheHints(ttl, mcp.CacheScopePrivate)
}

// listCursor is where a list of the handle's resources goes on: the
// toolset, and the upstream's cursor within it.
type listCursor struct {
	Toolset string     `json:"t"`
	Cursor  mcp.Cursor `json:"c,omitempty"`
}

// encode returns the cursor as a client sees it: standard base64, which
// mcp-go's own pagination accepts before the hook replaces its answer.
func (c listCursor) encode() mcp.Cursor {
	raw, _ := json.Marshal(c)
	return mcp.Cursor(base64.StdEncoding.EncodeToString(raw))
}

func decodeCursor(s mcp.Cursor) (listCursor, bool) {
	var c listCursor
	raw, err := base64.StdEncoding.DecodeString(string(s))
	return c, err == nil && json.Unmarshal(raw, &c) == nil && c.Toolset != ""
}

// listPage returns one page of a list of the caller's handle: one upstream
// page, from the toolset the cursor names (the first one without cursor),
// skipping toolsets with nothing to list, items rewritten by keep (which
// drops those it returns false for). A toolset that fails is left out of
// the list and logged: mcp-go's hooks cannot fail a list.
func listPage[T any](ctx context.Context, m *Manager, operation string, cursor mcp.Cursor,
	fetch func(context.Context, *mcpclient.Client, mcp.Cursor) (pageOf[T], error), keep func(string, *T) bool) pageOf[T] {
	out := pageOf[T]{items: []T{}, hinted: true}
	p := principalOf(ctx)
	if p == nil {
		return out
	}
	sets := m.resourceToolsets(p)
	start := listCursor{}
	if cursor != "" {
		c, ok := decodeCursor(cursor)
		if !ok {
			return out
		}
		start = c
	}
	i := 0
	if start.Toolset != "" {
		for i < len(sets) && sets[i] != start.Toolset {
			i++
		}
	}
	for ; i < len(sets); i++ {
		toolset := sets[i]
		var upstreamCursor mcp.Cursor
		if toolset == start.Toolset {
			upstreamCursor = start.Cursor
		}
		got, err := fetchPage(ctx, m, p, pageKey{toolset: toolset, operation: operation, cursor: upstreamCursor}, func(ctx context.Context) (pageOf[T], error) {
			return forward(ctx, m, toolset, operation, func(ctx context.Context, cl *mcpclient.Client) (pageOf[T], error) {
				return fetch(ctx, cl, upstreamCursor)
			})
		})
		if err != nil {
			m.log().Info("toolset left out of a list", "toolset", toolset, "operation", operation, "error", err)
			continue
		}
		if ttl, ok := got.hints.TTL(); ok {
			if out.ttl == 0 || ttl < out.ttl {
				out.ttl = ttl
			}
		} else {
			out.hinted = false
		}
		for _, item := range got.items {
			if keep(toolset, &item) {
				out.items = append(out.items, item)
			}
		}
		switch {
		case got.next != "":
			out.next = listCursor{Toolset: toolset, Cursor: got.next}.encode()
		case i+1 < len(sets):
			out.next = listCursor{Toolset: sets[i+1]}.encode()
		}
		if len(out.items) > 0 || got.next != "" {
			return out
		}
		out.next = ""
	}
	return out
}

// resourceToolsets returns the toolsets of p's handle, in its order, that
// offer resources and whose read scopes p's token holds.
func (m *Manager) resourceToolsets(p *principal.Principal) []string {
	var out []string
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, r := range p.Handle.Spec.Toolsets {
		st := m.sets[r.Name]
		if st == nil || st.conn == nil || !st.offersResources.Load() {
			continue
		}
		want, _ := tokens.NewScopeSet(st.readScopes...)
		if p.Token.Scopes.Missing(want) == 0 {
			out = append(out, r.Name)
		}
	}
	return out
}

// maxCachedPages bounds the list pages kept for their upstream's ttlMs.
const maxCachedPages = 10000

// pageKey is what a cached list page depends on: the toolset, the list, the
// cursor, and, unless the upstream said the page is public, the caller.
type pageKey struct {
	toolset, operation string
	cursor             mcp.Cursor
	caller             string
}

type cachedPage struct {
	page  any
	until time.Time
}

// pageCache keeps upstream list pages as long as their ttlMs allows
// (2026-07-28 caching hints): a page without hints is not kept. Each entry
// holds a pageOf of its list's item type.
type pageCache struct {
	mu      sync.Mutex
	entries map[pageKey]cachedPage
}

// fetchPage returns a cached page, or fetches and keeps it as its hints
// allow: shared by every caller for a public page, per grant and scopes for
// a private one.
func fetchPage[T any](ctx context.Context, m *Manager, p *principal.Principal, key pageKey, fetch func(context.Context) (pageOf[T], error)) (pageOf[T], error) {
	now := m.now()
	public := key
	key.caller = p.Token.Grant + "/" + fmt.Sprint(uint64(p.Token.Scopes))
	c := &m.pages
	c.mu.Lock()
	for _, k := range []pageKey{key, public} {
		if e, ok := c.entries[k]; ok && now.Before(e.until) {
			c.mu.Unlock()
			if page, ok := e.page.(pageOf[T]); ok {
				return page, nil
			}
			c.mu.Lock()
		}
	}
	c.mu.Unlock()
	page, err := fetch(ctx)
	if err != nil {
		return page, err
	}
	ttl, ok := page.hints.TTL()
	if !ok || ttl <= 0 {
		return page, nil
	}
	if page.hints.CacheScope == mcp.CacheScopePublic {
		key = public
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedPages {
		c.entries = map[pageKey]cachedPage{}
	}
	c.entries[key] = cachedPage{page: page, until: now.Add(time.Duration(ttl) * time.Millisecond)}
	return page, nil
}

// forgetPages drops a toolset's cached list pages: its list changed.
func (m *Manager) forgetPages(toolset string) {
	m.pages.mu.Lock()
	defer m.pages.mu.Unlock()
	for k := range m.pages.entries {
		if k.toolset == toolset {
			delete(m.pages.entries, k)
		}
	}
}

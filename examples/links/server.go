// Package links is the example Links toolset: an upstream MCP server (a
// Toolset) that keeps short links per handle. It shows what every upstream
// of the runtime does: verify the runtime-minted token on every request
// (signature against the runtime's JWK Set, iss, aud, exp), take the handle
// from it, and check the token's scopes in each tool.
package links

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Scopes the tools need.
const (
	ScopeRead  = "links.read"
	ScopeWrite = "links.write"
)

// MaxLinksPerHandle bounds the memory one handle can use.
const MaxLinksPerHandle = 1000

// Link is one short link of a handle.
type Link struct {
	Path      string    `json:"path"`
	Target    string    `json:"target"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

// Store keeps the links of every handle in memory.
type Store struct {
	mu    sync.Mutex
	links map[string]map[string]Link // handle → path → link
}

// List returns the handle's links by path.
func (s *Store) List(handle string) []Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Link, 0, len(s.links[handle]))
	for _, l := range s.links[handle] {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Link) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Create adds a link; the path must be free.
func (s *Store) Create(handle string, l Link) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links == nil {
		s.links = map[string]map[string]Link{}
	}
	m := s.links[handle]
	if m == nil {
		m = map[string]Link{}
		s.links[handle] = m
	}
	if _, ok := m[l.Path]; ok {
		return fmt.Errorf("%s already links somewhere; delete it first", l.Path)
	}
	if len(m) >= MaxLinksPerHandle {
		return fmt.Errorf("a handle has at most %d links", MaxLinksPerHandle)
	}
	m[l.Path] = l
	return nil
}

// Delete removes a link and returns it.
func (s *Store) Delete(handle, path string) (Link, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[handle][path]
	if ok {
		delete(s.links[handle], path)
	}
	return l, ok
}

// Server is the Links toolset's HTTP server.
type Server struct {
	Verifier *Verifier
	Store    *Store
	Log      *slog.Logger
	Now      func() time.Time
}

type claimsKey struct{}

// ClaimsFrom returns the verified token of the request being served.
func ClaimsFrom(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// Handler serves MCP (Streamable HTTP, stateless) at /mcp and /healthz.
func (s *Server) Handler() http.Handler {
	if s.Store == nil {
		s.Store = &Store{}
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	m := server.NewMCPServer("links", "0.1.0", server.WithToolCapabilities(false),
		server.WithInstructions("Short links of the handle: list, create (a path such as /sale to a target URL) and delete."))
	m.AddTool(mcp.NewTool("list_links",
		mcp.WithDescription("List the handle's short links and their targets."),
		mcp.WithTitleAnnotation("List links"),
		mcp.WithReadOnlyHintAnnotation(true),
		mcp.WithDestructiveHintAnnotation(false),
		mcp.WithOpenWorldHintAnnotation(false),
	), s.listLinks)
	m.AddTool(mcp.NewTool("create_link",
		mcp.WithDescription("Create a short link from a path of the handle (for example /sale) to a target URL."),
		mcp.WithTitleAnnotation("Create a link"),
		mcp.WithReadOnlyHintAnnotation(false),
		mcp.WithDestructiveHintAnnotation(false),
		mcp.WithIdempotentHintAnnotation(false),
		mcp.WithOpenWorldHintAnnotation(false),
		mcp.WithString("path", mcp.Required(), mcp.Description("The short path, starting with /, for example /sale.")),
		mcp.WithString("target", mcp.Required(), mcp.Description("The absolute http or https URL the path redirects to.")),
	), s.createLink)
	m.AddTool(mcp.NewTool("delete_link",
		mcp.WithDescription("Delete one of the handle's short links."),
		mcp.WithTitleAnnotation("Delete a link"),
		mcp.WithReadOnlyHintAnnotation(false),
		mcp.WithDestructiveHintAnnotation(true),
		mcp.WithIdempotentHintAnnotation(true),
		mcp.WithOpenWorldHintAnnotation(false),
		mcp.WithString("path", mcp.Required(), mcp.Description("The short path to delete, for example /sale.")),
	), s.deleteLink)
	// Stateless: every request stands alone, so any replica serves it. The
	// bearer check makes DNS-rebinding protection moot (a browser cannot
	// attach a runtime-minted token), and the runtime may reach the service
	// through a loopback address with the Service's host name.
	streamable := server.NewStreamableHTTPServer(m, server.WithStateLess(true), server.WithDisableLocalhostProtection(true))

	mux := http.NewServeMux()
	mux.Handle("/mcp", s.authenticate(streamable))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

// authenticate lets through only requests with a valid upstream token, with
// its claims in the context.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(auth, " ")
		if auth == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			unauthorized(w, "", "this MCP server needs Authorization: Bearer <token minted by the MCP runtime>")
			return
		}
		claims, err := s.Verifier.Verify(r.Context(), strings.TrimSpace(token))
		if err != nil {
			s.Log.Info("refused a token", "error", err, "remote", r.RemoteAddr)
			unauthorized(w, "invalid_token", "invalid upstream token: "+err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})
}

func unauthorized(w http.ResponseWriter, code, description string) {
	challenge := `Bearer realm="links"`
	if code != "" {
		challenge += fmt.Sprintf(`, error=%q, error_description=%q`, code, strings.NewReplacer(`"`, "'", `\`, "").Replace(description))
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	if code == "" {
		code = "unauthorized"
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"error": code, "error_description": description})
}

// need returns the caller's claims, or a tool error when the token lacks
// scope.
func need(ctx context.Context, tool, scope string) (*Claims, *mcp.CallToolResult) {
	c := ClaimsFrom(ctx)
	if c == nil {
		return nil, mcp.NewToolResultError("unauthenticated call")
	}
	if !c.HasScope(scope) {
		return nil, mcp.NewToolResultErrorf("insufficient scope: %s needs %s; the token has %q", tool, scope, c.Scope)
	}
	return c, nil
}

func (s *Server) listLinks(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	c, denied := need(ctx, "list_links", ScopeRead)
	if denied != nil {
		return denied, nil
	}
	links := s.Store.List(c.Handle)
	var text strings.Builder
	if len(links) == 0 {
		fmt.Fprintf(&text, "%s has no links.", c.Handle)
	}
	for _, l := range links {
		fmt.Fprintf(&text, "%s → %s\n", l.Path, l.Target)
	}
	return mcp.NewToolResultStructured(map[string]any{"handle": c.Handle, "links": links}, strings.TrimSpace(text.String())), nil
}

func (s *Server) createLink(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	c, denied := need(ctx, "create_link", ScopeWrite)
	if denied != nil {
		return denied, nil
	}
	path, err := req.RequireString("path")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	target, err := req.RequireString("target")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	if err := ValidatePath(path); err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	if err := ValidateTarget(target); err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	l := Link{Path: path, Target: target, CreatedBy: c.Subject, CreatedAt: now.UTC()}
	if err := s.Store.Create(c.Handle, l); err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	return mcp.NewToolResultStructured(l, fmt.Sprintf("Created %s → %s.", l.Path, l.Target)), nil
}

func (s *Server) deleteLink(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	c, denied := need(ctx, "delete_link", ScopeWrite)
	if denied != nil {
		return denied, nil
	}
	path, err := req.RequireString("path")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	l, ok := s.Store.Delete(c.Handle, path)
	if !ok {
		return mcp.NewToolResultErrorf("%s has no link at %s", c.Handle, path), nil
	}
	return mcp.NewToolResultStructured(l, fmt.Sprintf("Deleted %s (it pointed to %s).", l.Path, l.Target)), nil
}

var pathPattern = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// ValidatePath accepts paths such as /sale or /docs/v2: segments of
// letters, digits and . _ ~ -, at most 200 characters.
func ValidatePath(path string) error {
	if len(path) > 200 || !pathPattern.MatchString(path) {
		return fmt.Errorf("invalid path %q: use / then letters, digits, '.', '_', '~' or '-', for example /sale (at most 200 characters)", path)
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("invalid path %q: no . or .. segments", path)
		}
	}
	return nil
}

// ValidateTarget accepts absolute http and https URLs without credentials,
// at most 2048 characters.
func ValidateTarget(target string) error {
	u, err := url.Parse(target)
	switch {
	case len(target) > 2048:
		return fmt.Errorf("the target is longer than 2048 characters")
	case err != nil:
		return fmt.Errorf("invalid target URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("invalid target %q: the URL must start with https:// or http://", target)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("invalid target %q: the URL has no host", target)
	case u.User != nil:
		return fmt.Errorf("invalid target %q: no credentials in the URL", target)
	}
	return nil
}

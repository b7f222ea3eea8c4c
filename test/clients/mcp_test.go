package clients_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// httpClient reaches the stack's listener whatever host a URL names (the
// hosted host acme.mcp.localhost does not resolve here), verifying its
// certificate with the test CA for that host.
func (s *stack) httpClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, s.addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// mintAccess records a grant for alice on the handle, as an approval would,
// and mints an access token for it with the runtime's keys (what the token
// endpoint would issue). It waits until both replicas accept the token.
func (s *stack) mintAccess(t *testing.T, clientID string, scopes ...mcpv1alpha1.Scope) string {
	t.Helper()
	ctx := context.Background()
	store := &grants.Store{Client: env.Client, Reader: env.Client, CodeTTL: time.Minute, Now: time.Now}
	code, err := store.Create(ctx, grants.Request{
		Client: &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: clientID}},
		Handle: handle, Subject: "static#" + email, Email: email, Resource: s.cfg.HostedURL(handle), Scopes: scopes,
		CodeChallenge: strings.Repeat("x", 43), RedirectURI: "http://127.0.0.1/unused", // never redeemed
	})
	if err != nil {
		t.Fatal(err)
	}
	grant, _ := tokens.ParseOpaque(tokens.CodePrefix, code)
	set, ok := tokens.NewScopeSet(scopes...)
	if !ok {
		t.Fatalf("unknown scopes %v", scopes)
	}
	tok, err := s.keys.Keys().MintAccess(tokens.Access{Handle: handle, Subject: "static#" + email, ClientID: clientID,
		Grant: grant, Scopes: set, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Each replica's informer cache must have seen the grant: four pings
	// in a row are answered.
	waitfor.Eventually(t, 10*time.Second, "the replicas accept a token for a new grant", func() error {
		for range 4 {
			if status, _, _ := s.rpc(t, s.cfg.HostedURL(handle), tok, "", "ping", nil); status != http.StatusOK {
				return fmt.Errorf("ping: HTTP %d", status)
			}
		}
		return nil
	})
	return tok
}

// rpc posts one JSON-RPC request (protocol 2025-11-25) and returns the
// status, the decoded body and the headers.
func (s *stack) rpc(t *testing.T, mcpURL, bearer, session, method string, params any) (int, map[string]any, http.Header) {
	t.Helper()
	msg := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		msg["params"] = params
	}
	body, _ := json.Marshal(msg)
	req, _ := http.NewRequest(http.MethodPost, mcpURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+bearer)
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// One response event: its data line.
		for line := range strings.Lines(string(raw)) {
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data:"); ok {
				raw = []byte(data)
			}
		}
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp.Header
}

// waitForTools waits until tools/list on mcpURL shows exactly want on both
// replicas (each runs its own toolsets manager, which lists the upstreams
// in the background).
func (s *stack) waitForTools(t *testing.T, mcpURL, bearer string, want []string) {
	t.Helper()
	// Four sessions in a row (the replicas alternate) list them.
	waitfor.Eventually(t, 30*time.Second, "tools/list on "+mcpURL, func() error {
		for range 4 {
			status, out, hdr := s.rpc(t, mcpURL, bearer, "", "initialize", map[string]any{"protocolVersion": "2025-11-25",
				"capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "clients_test", "version": "1"}})
			session := hdr.Get("Mcp-Session-Id")
			if status == http.StatusOK {
				status, out, _ = s.rpc(t, mcpURL, bearer, session, "tools/list", map[string]any{})
			}
			var names []string
			result, _ := out["result"].(map[string]any)
			list, _ := result["tools"].([]any)
			for _, tool := range list {
				name, _ := tool.(map[string]any)["name"].(string)
				names = append(names, name)
			}
			slices.Sort(names)
			if status != http.StatusOK || !slices.Equal(names, want) {
				return fmt.Errorf("HTTP %d, tools %v, want %v (%v)", status, names, want, out)
			}
		}
		return nil
	})
}

// tokenProxy is a reverse proxy on http://127.0.0.1:PORT/mcp for clients
// that cannot do OAuth (the conformance suite's server scenarios): it
// forwards every request to target, an MCP URL of the stack, with
// Authorization set to the bearer, and passes everything else (Origin
// included) through as it came, streaming responses as they are written.
func (s *stack) tokenProxy(t *testing.T, target, bearer string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := *u
			out.RawQuery = pr.In.URL.RawQuery
			pr.Out.URL, pr.Out.Host = &out, u.Host
			pr.Out.Header.Set("Authorization", "Bearer "+bearer)
		},
		Transport:     s.httpClient().Transport,
		FlushInterval: -1,
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", proxy)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL + "/mcp"
}

// linksTools are the handle's tools from the Links toolset, sorted.
var linksTools = []string{"links_create_link", "links_delete_link", "links_list_links"}

// Package testruntime wires the runtime's MCP endpoint for tests that start
// runtime replicas in-process on a real apiserver (runtime and test/clients),
// the way cmd/runtime wires it, and runs the example Links toolset as an
// upstream. It is for tests only.
package testruntime

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/examples/links"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
)

// MCP returns an option that gives a runtime.Server the MCP endpoint as
// cmd/runtime builds it (runtime.NewMCP) on an informer cache. Apply it to every replica; each gets its own manager, as each
// runtime process has. Everything stops when the test ends.
func MCP(t testing.TB, cfg *rest.Config, c client.Client) func(*runtime.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	return func(srv *runtime.Server) {
		minter, err := upstream.LoadMinter(ctx, c, srv.Config.Namespace, upstream.DefaultSecretName, srv.Config.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		mcp := runtime.NewMCP(srv, informers, c, minter, slog.Default(), "test")
		if err := mcp.Tools.Start(ctx, informers); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mcp.Tools.Stop)
	}
}

// LinksUpstream runs the example Links toolset (examples/links) on a plain
// HTTP listener on 127.0.0.1; its Toolset's spec.url is URL+"/mcp". It
// verifies tokens with the JWK Set of the runtime's upstream keys, served
// here as the runtime serves it (the replicas share the key Secret, which
// LoadMinter creates when it is missing).
func LinksUpstream(t testing.TB, c client.Client, namespace, issuer string) *httptest.Server {
	t.Helper()
	minter, err := upstream.LoadMinter(context.Background(), c, namespace, upstream.DefaultSecretName, issuer)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(minter.ServeJWKS))
	t.Cleanup(jwks.Close)
	ls := &links.Server{}
	ts := httptest.NewServer(nil)
	ls.Verifier = &links.Verifier{Issuer: issuer, Audience: ts.URL + "/mcp", Keys: &links.KeySet{URL: jwks.URL}}
	ts.Config.Handler = ls.Handler()
	t.Cleanup(ts.Close)
	return ts
}

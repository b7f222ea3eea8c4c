// Command links-toolset is the example Links toolset: an upstream MCP server
// the runtime calls with tokens it mints. It keeps short links per handle in
// memory (they are lost on restart) and accepts only requests carrying a
// runtime-minted token for its own URL.
//
//	links-toolset --issuer https://ai.10x.in --audience http://links-toolset.mcp-system.svc:8080/mcp
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/10xdotin/mcp-handle-operator/examples/links"
)

func main() {
	addr := flag.String("listen", ":8080", "address to listen on")
	issuer := flag.String("issuer", "", "the platform issuer, the iss of the runtime's tokens, for example https://ai.10x.in (required)")
	jwksURL := flag.String("jwks-url", "", "the runtime's JWK Set (default {issuer}/.well-known/jwks.json)")
	audience := flag.String("audience", "", "this server's MCP URL as the Toolset's spec.url names it, the aud of its tokens (required)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if *issuer == "" || *audience == "" {
		fmt.Fprintln(os.Stderr, "links-toolset: --issuer and --audience are required")
		os.Exit(2)
	}
	if *jwksURL == "" {
		*jwksURL = strings.TrimSuffix(*issuer, "/") + "/.well-known/jwks.json"
	}
	if u, err := url.Parse(*jwksURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		fmt.Fprintf(os.Stderr, "links-toolset: --jwks-url %q is not an http(s) URL\n", *jwksURL)
		os.Exit(2)
	}
	s := &links.Server{
		Verifier: &links.Verifier{Issuer: *issuer, Audience: *audience, Keys: &links.KeySet{URL: *jwksURL, Client: &http.Client{Timeout: 10 * time.Second}}},
		Log:      log,
	}
	srv := &http.Server{Addr: *addr, Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("links toolset listening", "address", *addr, "issuer", *issuer, "audience", *audience, "jwks", *jwksURL)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("links toolset stopped", "error", err)
		os.Exit(1) //nolint:gocritic // stop is only a signal handler
	}
}

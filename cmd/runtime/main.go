// Command runtime serves the MCP endpoints, the OAuth authorization server and
// the web pages of every handle. This build serves the discovery documents
// (RFC 8414 and RFC 9728) and its health probe; the OAuth endpoints and MCP
// arrive with their issues.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime"
)

func main() {
	addr := flag.String("listen", ":8080", "address the runtime listens on (the Gateway terminates TLS)")
	configPath := flag.String("platform-config", "", "path of the platform configuration YAML (required)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "runtime: --platform-config is required")
		os.Exit(2)
	}
	cfg, err := platform.Load(*configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runtime: %s: %v\n", *configPath, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if err := serve(ctx, cfg, *addr, log); err != nil {
		log.Error("runtime stopped", "error", err)
		stop()
		os.Exit(1)
	}
	stop()
}

func serve(ctx context.Context, cfg *platform.Config, addr string, log *slog.Logger) error {
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("failed to find the cluster: %w", err)
	}
	informers, err := cache.New(restConfig, cache.Options{Scheme: scheme.New()})
	if err != nil {
		return fmt.Errorf("failed to create the informer cache: %w", err)
	}
	go func() {
		if err := informers.Start(ctx); err != nil {
			log.Error("informer cache stopped", "error", err)
		}
	}()
	srv := &http.Server{
		Addr:              addr,
		Handler:           (&runtime.Server{Config: cfg, Handles: runtime.ClusterHandles{Reader: informers}}).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("runtime listening", "address", addr, "issuer", cfg.Issuer)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Command runtime serves the MCP endpoints, the OAuth authorization server and
// the web pages of every handle: the discovery documents, the authorization
// code flow with static-user or OpenID Connect sign-in and consent, the
// token, revocation and registration endpoints, the JWK Set of upstream
// tokens, and the MCP endpoint whose tools come from the Toolsets.
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

	mcpserver "github.com/mark3labs/mcp-go/server"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/endpoint"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
)

// version is reported to MCP clients; release builds set it with
// -ldflags "-X main.version=...".
var version = "dev"

func main() {
	addr := flag.String("listen", ":8080", "address the runtime listens on (the Gateway terminates TLS)")
	keysSecret := flag.String("signing-keys-secret", "mcp-runtime-signing-keys", "Secret in the platform namespace with the token signing keys (created when missing)")
	accessTTL := flag.Duration("access-token-ttl", time.Hour, "lifetime of access tokens")
	upstreamKeys := flag.String("upstream-keys-secret", upstream.DefaultSecretName, "Secret in the platform namespace with the keys of the tokens sent to Toolsets (created when missing)")
	upstreamTTL := flag.Duration("upstream-token-ttl", upstream.DefaultLifetime, "lifetime of the tokens sent to Toolsets")
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
	if err := cfg.RequireSignIn(); err != nil {
		fmt.Fprintf(os.Stderr, "runtime: %s: %v\n", *configPath, err)
		os.Exit(2)
	}
	upstreamFlags = upstreamOptions{secret: *upstreamKeys, ttl: *upstreamTTL}
	if err := serve(ctx, cfg, *addr, *keysSecret, *accessTTL, log); err != nil {
		log.Error("runtime stopped", "error", err)
		stop()
		os.Exit(1)
	}
	stop()
}

// upstreamOptions are the flags of the tokens sent to Toolsets.
type upstreamOptions struct {
	secret string
	ttl    time.Duration
}

var upstreamFlags upstreamOptions

func serve(ctx context.Context, cfg *platform.Config, addr, keysSecret string, accessTTL time.Duration, log *slog.Logger) error {
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("failed to find the cluster: %w", err)
	}
	s := scheme.New()
	// Secrets are cached from the platform namespace only.
	informers, err := cache.New(restConfig, cache.Options{Scheme: s, DefaultTransform: cache.TransformStripManagedFields(), ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Namespaces: map[string]cache.Config{cfg.Namespace: {}}},
	}})
	if err != nil {
		return fmt.Errorf("failed to create the informer cache: %w", err)
	}
	// Clients declared for a client ID metadata document are found by its
	// URL; the index must exist before the cache starts.
	if err := runtime.IndexMetadataDocumentURLs(ctx, informers); err != nil {
		return err
	}
	go func() {
		if err := informers.Start(ctx); err != nil {
			log.Error("informer cache stopped", "error", err)
		}
	}()
	// Writes, and reads of grants (another replica may have just written
	// them), go to the apiserver directly.
	direct, err := runtime.NewDirectClient(restConfig, s, runtime.APITimeout)
	if err != nil {
		return err
	}
	keys, err := runtime.LoadKeyRing(ctx, direct, cfg.Namespace, keysSecret)
	if err != nil {
		return err
	}
	go keys.Refresh(ctx, informers, cfg.Namespace, keysSecret, 10*time.Second, func(err error) { log.Error("signing keys not refreshed", "error", err) })
	minter, err := upstream.LoadMinter(ctx, direct, cfg.Namespace, upstreamFlags.secret, cfg.Issuer)
	if err != nil {
		return err
	}
	minter.Lifetime = upstreamFlags.ttl
	go minter.Refresh(ctx, informers, cfg.Namespace, upstreamFlags.secret, 10*time.Second, func(err error) { log.Error("upstream token keys not refreshed", "error", err) })
	cluster := runtime.Cluster{Reader: informers, Namespace: cfg.Namespace, Indexed: true}
	var clients oauth.Clients = cluster
	if cfg.ClientIDMetadataDocumentsEnabled() {
		clients = &oauth.MetadataDocumentClients{Clients: cluster, Documents: &oauth.MetadataDocuments{}}
	}
	users, oidcSignIn := signIn(ctx, cfg, informers, direct, log)
	server := &runtime.Server{
		Config: cfg, Handles: cluster, Clients: clients, Secrets: cluster,
		Users: users, OIDC: oidcSignIn,
		Grants:   &grants.Store{Client: direct, Reader: direct, CodeTTL: time.Minute, Now: time.Now},
		Registry: &registry.Registry{Client: direct, Config: cfg, Namespace: cfg.Namespace},
		Keys:     keys, AccessTTL: accessTTL, SessionTTL: 8 * time.Hour, Now: time.Now,
		Upstream: minter,
	}
	if server.MCP, err = serveMCP(ctx, cfg, informers, direct, server, minter, log); err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: server.Handler(), ReadHeaderTimeout: 10 * time.Second}
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

// signIn returns the configured sign-in methods: static users and the
// upstream OpenID Connect provider, either nil when not configured. The
// provider is discovered in the background (and again on use), so the
// runtime starts while it is down; its client secret is read from the
// Secret on every exchange, so a rotation needs no restart.
func signIn(ctx context.Context, cfg *platform.Config, informers client.Reader, direct client.Reader, log *slog.Logger) (web.Authenticator, *web.OIDC) {
	var users web.Authenticator
	if cfg.SignIn.StaticUsersSecret != "" {
		users = web.StaticUsers{Reader: informers, Namespace: cfg.Namespace, Name: cfg.SignIn.StaticUsersSecret}
	}
	o := cfg.SignIn.OIDC
	if o == nil {
		return users, nil
	}
	secret := web.SecretValue{Reader: informers, Namespace: cfg.Namespace, Name: o.ClientSecretRef.Name, Key: o.ClientSecretRef.Key}
	if _, err := (web.SecretValue{Reader: direct, Namespace: secret.Namespace, Name: secret.Name, Key: secret.Key}).Get(ctx); err != nil {
		log.Error("the OpenID Connect client secret cannot be read; sign-in through the provider fails until it can", "error", err)
	}
	oidcSignIn := web.NewOIDC(cfg, secret.Get, log)
	go oidcSignIn.Warm(ctx)
	log.Info("OpenID Connect sign-in", "issuer", o.IssuerURL, "client", o.ClientID, "redirectURL", cfg.OIDCRedirectURL())
	return users, oidcSignIn
}

// serveMCP builds the MCP endpoint: one mcp-go server for every handle,
// whose tools come from the Toolsets, the bootstrap flow recording tool
// discovery on grants, and the Serving condition of each Handle.
func serveMCP(ctx context.Context, cfg *platform.Config, informers cache.Cache, direct client.Client, s *runtime.Server, minter *upstream.Minter, log *slog.Logger) (*endpoint.Endpoint, error) {
	cluster := runtime.Cluster{Reader: informers, Namespace: cfg.Namespace}
	tools := &toolsets.Manager{Reader: informers, Writer: direct, Minter: minter, Log: log}
	bootstrap := &endpoint.Bootstrap{Grants: cluster, Recorder: s.Grants, Handles: cluster, Tools: tools, Log: log, Now: time.Now}
	s.Authorized = bootstrap.SmokeCheck
	tools.Server = mcpserver.NewMCPServer("mcp-handle-operator", version, mcpserver.WithToolCapabilities(true),
		mcpserver.WithToolFilter(tools.Filter), mcpserver.WithHooks(bootstrap.Hooks()), mcpserver.WithRecovery())
	if err := tools.Start(ctx, informers); err != nil {
		return nil, err
	}
	serving := &runtime.ServingReporter{Reader: informers, Writer: direct, Log: log}
	if err := serving.Start(ctx, informers); err != nil {
		return nil, err
	}
	return &endpoint.Endpoint{Config: cfg, Handles: cluster, Grants: cluster, Keys: s.Keys, Tools: tools, MCP: tools.Server, Now: time.Now}, nil
}

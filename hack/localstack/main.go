// Command localstack is `make run`: it starts the local stack in the
// foreground, prints what it started, writes .local/env for scripts and stops
// everything on Ctrl-C. It lives under hack/ because it is a developer tool
// built on the test control plane, not something the product ships.
//
// The stack (test/framework/stack, shared with the end-to-end suite test/e2e): the
// control plane with the CRDs, cert-manager's controller with a local CA
// ClusterIssuer, the operator with a platform configuration for local hosts,
// the samples, a static sign-in user, two runtime replicas behind the runtime
// Service's clusterIP (a TCP round-robin standing in for kube-proxy), Traefik
// as the Gateway on :8443 (routes and status from the operator's HTTPRoutes,
// TLS with the certificate cert-manager issued), and the example Links
// toolset the sample handle uses.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/stack"
)

// The local stack's fixed places (docs/local.md): handles at
// https://{handle}.mcp.localhost:8443/mcp, the gateway at
// https://localhost:8443.
const (
	publicPort = 8443
	// runtimeServiceIP is the runtime Service's clusterIP: Traefik proxies
	// to it, the balancer listens on it.
	runtimeServiceIP = "127.0.100.10"
	runtimePort      = 8080
	// linksAddr is the example Links toolset's listener.
	linksAddr = "127.0.0.1:18090"
)

// runtimeAddrs are the runtime replicas' plain HTTP listeners.
var runtimeAddrs = []string{"127.0.0.1:18081", "127.0.0.1:18082"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	root := controlplane.RepoRoot()
	localDir := filepath.Join(root, ".local")
	envFile := filepath.Join(localDir, "env")
	// A stale env file would point scripts at a stack that is gone.
	_ = os.Remove(envFile)
	defer func() { _ = os.Remove(envFile) }()

	s, err := stack.Start(ctx, stack.Options{
		BinDir:           filepath.Join(root, "bin"),
		Dir:              localDir,
		LogDir:           filepath.Join(localDir, "logs"),
		PublicPort:       publicPort,
		RuntimeServiceIP: runtimeServiceIP,
		RuntimePort:      runtimePort,
		RuntimeAddrs:     runtimeAddrs,
		LinksAddr:        linksAddr,
		ManagerProbeAddr: "127.0.0.1:8081",
		Step:             step,
	})
	if err != nil {
		return err
	}
	defer s.Stop()

	bins, err := controlplane.Binaries()
	if err != nil {
		return err
	}
	kubectl := filepath.Join(bins, "kubectl")
	fmt.Println("\n$ kubectl get handles")
	get := exec.CommandContext(ctx, kubectl, "get", "handles")
	get.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig)
	get.Stdout, get.Stderr = os.Stdout, os.Stderr
	if err := get.Run(); err != nil {
		return fmt.Errorf("kubectl get handles failed: %w", err)
	}

	cfg := s.Config
	vars := []envVar{
		{"KUBECONFIG", s.Kubeconfig},
		{"ISSUER", cfg.Issuer},
		{"MCP_HOSTED_URL", cfg.HostedURL(stack.SampleHandle)},
		{"MCP_GATEWAY_URL", cfg.GatewayURL()},
		{"MCP_COMPAT_URL", cfg.CompatibilityURL(stack.SampleHandle)},
		{"MCP_CA_FILE", s.CAFile},
		{"DEV_USER", s.DevUser},
		{"DEV_PASSWORD", s.DevPassword},
	}
	if err := writeEnv(envFile, vars); err != nil {
		return err
	}
	caFile := rel(root, s.CAFile)
	fmt.Printf(`
The local stack is up: control plane, operator, cert-manager, two runtime
replicas behind Traefik on %s. For scripts: . %s

  Issuer:            %s
  Hosted URL:        %s
  Shared URL:        %s
  Compatibility URL: %s
  Sign in as:        %s / %s
  Local CA:          %s

Next:  bin/mcpctl setup-chatgpt-mcp-oauth --server-url %s \
         --redirect-uri https://chatgpt.com/connector/oauth/<callback_id> --ca-file %s
       bin/mcpctl doctor --server-url %s --ca-file %s
Try:   curl --cacert %s %s/.well-known/oauth-authorization-server
       export KUBECONFIG=%s
       %s get handles,oauthclients,connections,httproutes,certificates -A
Ctrl-C stops everything.
`, cfg.Issuer, rel(root, envFile), cfg.Issuer, cfg.HostedURL(stack.SampleHandle), cfg.GatewayURL(),
		cfg.CompatibilityURL(stack.SampleHandle), s.DevUser, s.DevPassword, caFile,
		cfg.HostedURL(stack.SampleHandle), caFile, cfg.HostedURL(stack.SampleHandle), caFile,
		caFile, cfg.Issuer, s.Kubeconfig, kubectl)
	if err := s.Wait(ctx); err != nil {
		return err
	}
	fmt.Println()
	return nil
}

// envVar is one line of .local/env.
type envVar struct{ key, value string }

// writeEnv writes KEY=value lines atomically, so the file appears only once
// everything it names is ready.
func writeEnv(path string, vars []envVar) error {
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "%s=%s\n", v.key, v.value)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func step(msg string) { fmt.Fprintln(os.Stderr, ">>", msg) }

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}

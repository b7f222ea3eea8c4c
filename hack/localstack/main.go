// Command localstack is `make run`: it starts the local stack in the
// foreground, prints what it started, writes .local/env for scripts and stops
// everything on Ctrl-C. It lives under hack/ because it is a developer tool
// built on the test control plane, not something the product ships.
//
// This stage of the stack: the control plane with the CRDs and the samples.
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

	"github.com/10xdotin/mcp-handle-operator/internal/controlplane"
)

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
	if err := os.MkdirAll(localDir, 0o700); err != nil {
		return err
	}

	step("building the control plane (first run only: about 10 minutes)")
	bins, err := controlplane.Binaries()
	if err != nil {
		return err
	}
	step("starting etcd and kube-apiserver with the CRDs")
	cp, err := controlplane.Start()
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the control plane")
		_ = os.Remove(envFile)
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localstack: failed to stop the control plane:", err)
		}
	}()

	kubeconfig := filepath.Join(localDir, "kubeconfig")
	kc, err := cp.Kubeconfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}

	step("applying config/samples")
	files, err := controlplane.SampleFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		if _, err := controlplane.ApplyFile(ctx, cp.Client, f, "localstack"); err != nil {
			return err
		}
	}

	kubectl := filepath.Join(bins, "kubectl")
	fmt.Println("\n$ kubectl get handles")
	get := exec.CommandContext(ctx, kubectl, "get", "handles")
	get.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	get.Stdout, get.Stderr = os.Stdout, os.Stderr
	if err := get.Run(); err != nil {
		return fmt.Errorf("kubectl get handles failed: %w", err)
	}

	if err := writeEnv(envFile, []envVar{{"KUBECONFIG", kubeconfig}}); err != nil {
		return err
	}
	fmt.Printf(`
The local stack is up. For scripts: . %s
Try:   export KUBECONFIG=%s
       %s get handles,oauthclients,toolsets
Ctrl-C stops everything.
`, rel(root, envFile), kubeconfig, kubectl)
	<-ctx.Done()
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

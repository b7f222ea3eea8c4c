// Command localstack is `make run`: it starts the local stack in the
// foreground, prints what it started, writes .local/env for scripts and stops
// everything on Ctrl-C. It lives under hack/ because it is a developer tool
// built on the test control plane, not something the product ships.
//
// The stack: the control plane with the CRDs, cert-manager's controller with
// a local CA ClusterIssuer, the operator with a platform configuration for
// local hosts, the samples, a static sign-in user, two runtime replicas behind
// the runtime Service's clusterIP (a TCP round-robin standing in for
// kube-proxy), Traefik as the Gateway on :8443 (routes and status from the
// operator's HTTPRoutes, TLS with the certificate cert-manager issued), and
// the example Links toolset the sample handle uses.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/controlplane"
	"github.com/10xdotin/mcp-handle-operator/internal/edge"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/proc"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
)

// platformConfig serves handles at https://{handle}.mcp.localhost:8443/mcp
// and the gateway at https://localhost:8443.
const platformConfig = `mcpDomain: mcp.localhost
gatewayHost: localhost
publicPort: 8443
namespace: mcp-system
gatewayRefs:
  - {name: mcp-gateway, namespace: mcp-system, sectionName: https}
runtimeService: {name: mcp-runtime, namespace: mcp-system, port: 8080}
tls:
  mode: wildcard
  issuerRef: {name: mcp-local-ca, kind: ClusterIssuer}
sharedGateway: {enabled: true}
signIn: {staticUsersSecret: mcp-users}
`

const (
	// devUser is a member of the sample handle acme.
	devUser = "owner@acme.example"
	// caName is the local CA ClusterIssuer, the configuration's issuerRef.
	caName = "mcp-local-ca"
	// runtimeServiceIP is the runtime Service's clusterIP: Traefik proxies
	// to it, the balancer listens on it.
	runtimeServiceIP = "127.0.100.10"
)

// linksAddr is the example Links toolset's listener.
const linksAddr = "127.0.0.1:18090"

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
	logDir := filepath.Join(localDir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return err
	}

	step("building the control plane (first run only: about 15 minutes)")
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
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localstack: failed to stop the control plane:", err)
		}
	}()
	step("starting kube-controller-manager's garbage collector (deleting a Handle removes what it owned)")
	stopGC, err := cp.StartGarbageCollector()
	if err != nil {
		return err
	}
	defer stopGC()
	kubeconfig := filepath.Join(localDir, "kubeconfig")
	kc, err := cp.Kubeconfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mcp-system"}}); err != nil {
		return fmt.Errorf("failed to create namespace mcp-system: %w", err)
	}

	configPath := filepath.Join(localDir, "platform.yaml")
	if err := os.WriteFile(configPath, []byte(platformConfig), 0o600); err != nil {
		return err
	}
	cfg, err := platform.Parse([]byte(platformConfig))
	if err != nil {
		return err
	}

	step("building cert-manager's controller (first run only: about 3 minutes)")
	if _, err := edge.CertManagerBinary(); err != nil {
		return err
	}
	step("building traefik (first run only: about 10 minutes)")
	if _, err := edge.TraefikBinary(); err != nil {
		return err
	}
	step("starting cert-manager's controller (log: .local/logs/cert-manager.log)")
	cm, err := edge.StartCertManager(ctx, cp.Client, kubeconfig, filepath.Join(logDir, "cert-manager.log"))
	if err != nil {
		return err
	}
	defer func() {
		step("stopping cert-manager's controller")
		cm.Stop()
	}()
	step("creating the local CA ClusterIssuer " + caName)
	caPEM, err := edge.LocalCA(ctx, cp.Client, caName, cm)
	if err != nil {
		return err
	}
	// The local CA's certificate, what clients trust (MCP_CA_FILE); the
	// name is the one mcpctl's hints and the docs give (--ca-file
	// .local/tls.crt) since the local TLS front's days.
	caFile := filepath.Join(localDir, "tls.crt")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		return err
	}

	step("starting the operator (log: .local/logs/manager.log)")
	manager, err := proc.Start(filepath.Join(logDir, "manager.log"), []string{"KUBECONFIG=" + kubeconfig},
		filepath.Join(root, "bin", "manager"), "--platform-config="+configPath,
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:8081")
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the operator")
		manager.Stop(10 * time.Second)
	}()

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
	step("waiting for the operator to report the sample handle's endpoints")
	if err := waitForEndpoints(ctx, cp, "acme", manager); err != nil {
		return err
	}

	step("creating the sign-in user " + devUser)
	devPassword, err := createDevUser(ctx, cp)
	if err != nil {
		return err
	}
	serviceAddr, err := edge.RuntimeService(ctx, cp.Client, cfg, runtimeServiceIP)
	if err != nil {
		return err
	}
	step("passing connections to " + serviceAddr + " (the runtime Service) round-robin to the replicas")
	lb, err := startBalancer(serviceAddr, runtimeAddrs)
	if err != nil {
		return err
	}
	defer lb.Stop()
	for i, addr := range runtimeAddrs {
		logName := fmt.Sprintf("runtime-%d.log", i+1)
		step(fmt.Sprintf("starting runtime replica %d on %s (log: .local/logs/%s)", i+1, addr, logName))
		replica, err := proc.Start(filepath.Join(logDir, logName), []string{"KUBECONFIG=" + kubeconfig},
			filepath.Join(root, "bin", "runtime"), "--platform-config="+configPath, "--listen="+addr)
		if err != nil {
			return err
		}
		defer func() {
			step(fmt.Sprintf("stopping runtime replica %d", i+1))
			replica.Stop(10 * time.Second)
		}()
		if err := waitForHealth(ctx, "http://"+addr+"/healthz", replica); err != nil {
			return err
		}
	}
	step("starting traefik, the Gateway, on 127.0.0.1:8443 (log: .local/logs/traefik.log)")
	traefik, err := edge.StartTraefik(ctx, cp.Client, edge.TraefikOptions{
		Kubeconfig: kubeconfig, Platform: cfg, LogPath: filepath.Join(logDir, "traefik.log"),
		// No idle connections to the Service: each request is a new
		// connection the balancer may give to either replica.
		Args: []string{"--serversTransport.maxIdleConnsPerHost=-1"},
	})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping traefik")
		traefik.Stop()
	}()
	step("waiting for https://localhost:8443 to answer with the certificate cert-manager issued")
	if err := waitForGateway(ctx, caPEM, traefik); err != nil {
		return err
	}

	step("starting the example Links toolset on " + linksAddr + " (log: .local/logs/links-toolset.log)")
	linksURL := "http://" + linksAddr + "/mcp"
	// The toolset trusts the local CA to fetch the JWKS through the Gateway.
	links, err := proc.Start(filepath.Join(logDir, "links-toolset.log"), []string{"SSL_CERT_FILE=" + caFile},
		filepath.Join(root, "bin", "links-toolset"), "--listen="+linksAddr, "--issuer=https://localhost:8443", "--audience="+linksURL)
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the Links toolset")
		links.Stop(10 * time.Second)
	}()
	if err := waitForHealth(ctx, "http://"+linksAddr+"/healthz", links); err != nil {
		return err
	}
	if err := pointToolset(ctx, cp, "links", linksURL); err != nil {
		return err
	}

	kubectl := filepath.Join(bins, "kubectl")
	fmt.Println("\n$ kubectl get handles")
	get := exec.CommandContext(ctx, kubectl, "get", "handles")
	get.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	get.Stdout, get.Stderr = os.Stdout, os.Stderr
	if err := get.Run(); err != nil {
		return fmt.Errorf("kubectl get handles failed: %w", err)
	}

	vars := []envVar{
		{"KUBECONFIG", kubeconfig},
		{"ISSUER", "https://localhost:8443"},
		{"MCP_HOSTED_URL", "https://acme.mcp.localhost:8443/mcp"},
		{"MCP_GATEWAY_URL", "https://localhost:8443/mcp"},
		{"MCP_COMPAT_URL", "https://localhost:8443/mcp/acme/mcp"},
		{"MCP_CA_FILE", caFile},
		{"DEV_USER", devUser},
		{"DEV_PASSWORD", devPassword},
	}
	if err := writeEnv(envFile, vars); err != nil {
		return err
	}
	fmt.Printf(`
The local stack is up: control plane, operator, cert-manager, two runtime
replicas behind Traefik on https://localhost:8443. For scripts: . %s

  Issuer:            https://localhost:8443
  Hosted URL:        https://acme.mcp.localhost:8443/mcp
  Shared URL:        https://localhost:8443/mcp
  Compatibility URL: https://localhost:8443/mcp/acme/mcp
  Sign in as:        %s / %s
  Local CA:          %s

Try:   curl --cacert %s https://localhost:8443/.well-known/oauth-authorization-server
       export KUBECONFIG=%s
       %s get handles,oauthclients,connections,httproutes,certificates -A
Ctrl-C stops everything.
`, rel(root, envFile), devUser, devPassword, rel(root, caFile), rel(root, caFile), kubeconfig, kubectl)
	select {
	case <-ctx.Done():
	case <-manager.Exited():
		return manager.ExitErr("operator")
	case <-traefik.Exited():
		return traefik.ExitErr("traefik")
	case <-cm.Exited():
		return cm.ExitErr("cert-manager controller")
	}
	fmt.Println()
	return nil
}

// waitForEndpoints waits until the operator has written a handle's status.
func waitForEndpoints(ctx context.Context, cp *controlplane.Env, name string, manager *proc.Process) error {
	deadline := time.After(60 * time.Second)
	for {
		h := &mcpv1alpha1.Handle{}
		if err := cp.Client.Get(ctx, types.NamespacedName{Name: name}, h); err == nil && h.Status.Endpoints != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-manager.Exited():
			return manager.ExitErr("operator")
		case <-deadline:
			return fmt.Errorf("handle %s has no endpoints after 60s; see .local/logs/manager.log", name)
		case <-time.After(200 * time.Millisecond):
		}
	}
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

// createDevUser writes the static users Secret with one member of the sample
// handle and a password made for this run.
func createDevUser(ctx context.Context, cp *controlplane.Env) (string, error) {
	password := rand.Text()[:16]
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	users := fmt.Sprintf("- email: %s\n  passwordHash: %q\n", devUser, hash)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp-users", Namespace: "mcp-system"},
		Data: map[string][]byte{web.StaticUsersKey: []byte(users)}}
	if err := cp.Client.Create(ctx, secret); err != nil {
		return "", fmt.Errorf("failed to create the sign-in user: %w", err)
	}
	return password, nil
}

// waitForHealth waits until url answers 200.
func waitForHealth(ctx context.Context, url string, p *proc.Process) error {
	deadline := time.After(30 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil { //nolint:gosec,noctx // a fixed loopback URL
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Exited():
			return p.ExitErr(filepath.Base(p.LogPath))
		case <-deadline:
			return fmt.Errorf("%s is not healthy after 30s; see %s", url, p.LogPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitForGateway waits until Traefik serves the gateway host with a
// certificate of the local CA (it has its own until the Secret exists).
func waitForGateway(ctx context.Context, caPEM []byte, t *edge.Traefik) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("the local CA's certificate does not parse")
	}
	hc := edge.Dialer(t.Addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	deadline := time.After(60 * time.Second)
	var last error
	for {
		resp, err := hc.Get("https://localhost:8443/.well-known/oauth-authorization-server") //nolint:noctx
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.Exited():
			return t.ExitErr("traefik")
		case <-deadline:
			return fmt.Errorf("https://localhost:8443 does not answer after 60s (%w); see .local/logs/traefik.log and cert-manager.log", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pointToolset sets a sample Toolset's URL to the local process serving it.
func pointToolset(ctx context.Context, cp *controlplane.Env, name, url string) error {
	ts := &mcpv1alpha1.Toolset{}
	if err := cp.Client.Get(ctx, types.NamespacedName{Name: name}, ts); err != nil {
		return fmt.Errorf("failed to read the sample Toolset %s: %w", name, err)
	}
	ts.Spec.URL = url
	if err := cp.Client.Update(ctx, ts); err != nil {
		return fmt.Errorf("failed to point the Toolset %s at %s: %w", name, url, err)
	}
	return nil
}

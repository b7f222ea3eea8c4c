// Package edge_test proves the platform's real edge with the operator: a
// control plane, the operator, cert-manager's controller with a local CA
// ClusterIssuer, Traefik's Kubernetes Gateway provider and one runtime, all
// real processes on loopback (test/framework/edge). A Handle applied to the
// apiserver gets an HTTPRoute that Traefik accepts, a certificate that
// cert-manager issues, and its hosted host answers over TLS through Traefik
// with that certificate.
package edge_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/connecttest"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/edge"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
	"github.com/10xdotin/mcp-handle-operator/test/framework/stack"
)

const (
	namespace = stack.Namespace
	caName    = stack.CAName
	// runtimeIP is the runtime Service's clusterIP, where the runtime listens.
	runtimeIP = "127.0.100.10"
)

const handleYAML = `apiVersion: mcp.10x.in/v1alpha1
kind: Handle
metadata:
  name: acme
spec:
  displayName: Acme Inc.
  members:
    - user: owner@acme.example
      role: Admin
`

func TestEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole edge")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	logs := logDir(t)

	// Build what the test runs first, so the start times below are starts.
	timed(t, "build manager and runtime", func() error { return controlplane.BuildCommands(dir, "./cmd/manager", "./cmd/runtime") })
	timed(t, "build (or find) traefik", func() error { _, err := edge.TraefikBinary(); return err })
	timed(t, "build (or find) cert-manager's controller", func() error { _, err := edge.CertManagerBinary(); return err })

	var env *controlplane.Env
	timed(t, "start the control plane", func() (err error) { env, err = controlplane.Start(); return err })
	t.Cleanup(func() { _ = env.Stop() })
	c := env.Client
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig, "local-admin"); err != nil {
		t.Fatal(err)
	}

	publicPort := portOr(t, "127.0.0.1", 8443)
	runtimePort := portOr(t, runtimeIP, 8080)
	cfgPath := filepath.Join(dir, "platform.yaml")
	cfg, err := fixtures.WritePlatform(cfgPath, stack.PlatformConfig(publicPort, runtimePort))
	if err != nil {
		t.Fatal(err)
	}

	var cm *edge.CertManager
	timed(t, "start cert-manager's controller", func() (err error) {
		cm, err = edge.StartCertManager(ctx, c, kubeconfig, filepath.Join(logs, "cert-manager.log"))
		return err
	})
	t.Cleanup(cm.Stop)
	var caPEM []byte
	timed(t, "local CA ClusterIssuer "+caName+" Ready", func() (err error) {
		caPEM, err = edge.LocalCA(ctx, c, caName, cm)
		return err
	})

	runtimeAddr, err := edge.RuntimeService(ctx, c, cfg, runtimeIP)
	if err != nil {
		t.Fatal(err)
	}
	createUsers(ctx, t, c)

	var traefik *edge.Traefik
	timed(t, "start traefik (GatewayClass Accepted)", func() (err error) {
		traefik, err = edge.StartTraefik(ctx, c, edge.TraefikOptions{
			Kubeconfig: kubeconfig, Platform: cfg, LogPath: filepath.Join(logs, "traefik.log"),
		})
		return err
	})
	t.Cleanup(traefik.Stop)

	var manager *proc.Process
	timed(t, "start the operator", func() (err error) {
		manager, err = proc.Start(filepath.Join(logs, "manager.log"), []string{"KUBECONFIG=" + kubeconfig},
			filepath.Join(dir, "manager"), "--platform-config="+cfgPath,
			"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0")
		return err
	})
	t.Cleanup(func() { manager.Stop(10 * time.Second) })

	var runtime *proc.Process
	timed(t, "start the runtime on "+runtimeAddr, func() (err error) {
		runtime, err = proc.Start(filepath.Join(logs, "runtime.log"), []string{"KUBECONFIG=" + kubeconfig},
			filepath.Join(dir, "runtime"), "--platform-config="+cfgPath, "--listen="+runtimeAddr, "--metrics-listen=127.0.0.1:0")
		if err != nil {
			return err
		}
		return runtime.Poll(ctx, 60*time.Second, func() (bool, error) {
			resp, err := http.Get("http://" + runtimeAddr + "/healthz") //nolint:noctx
			if err != nil {
				return false, nil
			}
			_ = resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
	})
	t.Cleanup(func() { runtime.Stop(10 * time.Second) })

	handleFile := filepath.Join(dir, "handle.yaml")
	if err := os.WriteFile(handleFile, []byte(handleYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	if _, err := controlplane.ApplyFile(ctx, c, handleFile, "edge-test"); err != nil {
		t.Fatal(err)
	}

	// Traefik, not the operator, writes the route's parent status.
	for _, name := range []string{"handle-acme", "mcp-platform"} {
		timed(t, "HTTPRoute "+name+" Accepted by traefik", func() error {
			return traefik.Poll(ctx, 60*time.Second, func() (bool, error) {
				r := &gatewayv1.HTTPRoute{}
				if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, r); err != nil {
					return false, nil
				}
				for _, p := range r.Status.Parents {
					if p.ControllerName == edge.TraefikControllerName && string(p.ParentRef.Name) == "mcp-gateway" &&
						meta.IsStatusConditionTrue(p.Conditions, string(gatewayv1.RouteConditionAccepted)) &&
						meta.IsStatusConditionTrue(p.Conditions, string(gatewayv1.RouteConditionResolvedRefs)) {
						return true, nil
					}
				}
				return false, nil
			})
		})
	}

	// cert-manager issues the wildcard platform certificate from the local CA.
	timed(t, "Certificate mcp-platform Ready", func() error {
		return cm.Poll(ctx, 60*time.Second, func() (bool, error) {
			crt := &certmanagerv1.Certificate{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "mcp-platform"}, crt); err != nil {
				return false, nil
			}
			for _, cond := range crt.Status.Conditions {
				if cond.Type == certmanagerv1.CertificateConditionReady && cond.Status == cmmeta.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
	})
	timed(t, "Gateway mcp-gateway Programmed by traefik", func() error {
		return traefik.WaitProgrammed(ctx, c, 30*time.Second)
	})
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: cfg.TLS.SecretName}, secret); err != nil {
		t.Fatalf("the certificate's Secret: %v", err)
	}
	issued := connecttest.ParsePEM(t, secret.Data[corev1.TLSCertKey])
	if issued.Issuer.CommonName != caName {
		t.Errorf("Secret %s: issuer CN %q, want %q", cfg.TLS.SecretName, issued.Issuer.CommonName, caName)
	}
	if err := issued.VerifyHostname("acme.mcp.localhost"); err != nil {
		t.Errorf("Secret %s: %v", cfg.TLS.SecretName, err)
	}

	// The operator mirrors both into the Handle.
	timed(t, "Handle acme RouteAccepted and CertificateReady", func() error {
		return manager.Poll(ctx, 60*time.Second, func() (bool, error) {
			h := &mcpv1alpha1.Handle{}
			if err := c.Get(ctx, types.NamespacedName{Name: "acme"}, h); err != nil {
				return false, nil
			}
			return meta.IsStatusConditionTrue(h.Status.Conditions, mcpv1alpha1.HandleConditionRouteAccepted) &&
				meta.IsStatusConditionTrue(h.Status.Conditions, mcpv1alpha1.HandleConditionCertificateReady), nil
		})
	})

	// Through Traefik over TLS, trusting only the local CA.
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the local CA's certificate does not parse")
	}
	hc := edge.Dialer(traefik.Addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	base := fmt.Sprintf("https://acme.mcp.localhost:%d", publicPort)
	var resp *http.Response
	var body []byte
	timed(t, "GET "+base+"/.well-known/oauth-protected-resource/mcp through traefik", func() error {
		// Traefik serves the Secret once it has seen it; until then it
		// answers with its default certificate, which the CA does not sign.
		return traefik.Poll(ctx, 30*time.Second, func() (bool, error) {
			r, err := hc.Get(base + "/.well-known/oauth-protected-resource/mcp")
			if err != nil {
				return false, err
			}
			defer func() { _ = r.Body.Close() }()
			b, err := io.ReadAll(r.Body)
			if err != nil || r.StatusCode != http.StatusOK {
				return false, fmt.Errorf("status %d: %s", r.StatusCode, b)
			}
			resp, body = r, b
			return true, nil
		})
	})
	t.Logf("handle applied to first TLS answer through traefik: %s", time.Since(applied).Round(10*time.Millisecond))
	peer := resp.TLS.PeerCertificates[0]
	t.Logf("served certificate: subject %q, DNS names %q, issuer CN %q, serial %s", peer.Subject.CommonName, peer.DNSNames, peer.Issuer.CommonName, peer.SerialNumber)
	if peer.Issuer.CommonName != caName || !peer.Equal(issued) {
		t.Errorf("served certificate: issuer CN %q, serial %s; want the Secret's (issuer %q, serial %s)",
			peer.Issuer.CommonName, peer.SerialNumber, caName, issued.SerialNumber)
	}
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("protected resource metadata: %v: %s", err, body)
	}
	if want := base + "/mcp"; doc.Resource != want {
		t.Errorf("resource = %q, want %q", doc.Resource, want)
	}
	if want := fmt.Sprintf("https://localhost:%d", publicPort); len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != want {
		t.Errorf("authorization_servers = %q, want [%q]", doc.AuthorizationServers, want)
	}

	// Traefik routes by Host: a host the certificate covers but no route
	// names gets Traefik's own 404, not the runtime.
	r, err := hc.Get(fmt.Sprintf("https://nobody.mcp.localhost:%d/.well-known/oauth-protected-resource/mcp", publicPort))
	if err != nil {
		t.Fatalf("an unrouted host: %v", err)
	}
	b, _ := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if r.StatusCode != http.StatusNotFound || string(b) != "404 page not found\n" {
		t.Errorf("an unrouted host: status %d %q, want traefik's 404 page not found", r.StatusCode, b)
	}
}

// timed runs f, logs how long it took and fails the test on an error.
func timed(t *testing.T, what string, f func() error) {
	t.Helper()
	start := time.Now()
	err := f()
	t.Logf("%-60s %s", what, time.Since(start).Round(10*time.Millisecond))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// portOr returns want when host:want is free, otherwise a free port, so the
// test runs next to a make run.
func portOr(t *testing.T, host string, want int) int {
	t.Helper()
	if l, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(want))); err == nil {
		_ = l.Close()
		return want
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	t.Logf("%s:%d is taken; using port %d", host, want, l.Addr().(*net.TCPAddr).Port)
	return l.Addr().(*net.TCPAddr).Port
}

// logDir keeps the processes' logs: in $EDGE_LOG_DIR when set, otherwise in
// the test's temporary folder.
func logDir(t *testing.T) string {
	if d := os.Getenv("EDGE_LOG_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// createUsers writes the static users Secret the platform configuration
// names, with one member of acme; the runtime reads it for sign-in.
func createUsers(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	secret := fixtures.UsersSecretIn(namespace, stack.UsersSecret, fixtures.User("owner@acme.example", rand.Text()))
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
}

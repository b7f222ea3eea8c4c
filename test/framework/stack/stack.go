// Package stack starts the whole product as real processes on loopback: the
// control plane with the CRDs and kube-controller-manager's garbage
// collector, cert-manager's controller with a local CA ClusterIssuer, the
// operator with a platform configuration for local hosts, the samples of
// config/samples, a static sign-in user, two runtime replicas behind the
// runtime Service's clusterIP (a TCP round-robin standing in for
// kube-proxy), Traefik as the Gateway (routes and status from the operator's
// HTTPRoutes, TLS with the certificate cert-manager issued) and the example
// Links toolset the sample handle uses.
//
// `make run` (hack/localstack) starts it with the documented fixed ports;
// the end-to-end suite (test/e2e) starts it with free ones.
package stack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/edge"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
)

const (
	// Namespace is the platform's namespace.
	Namespace = "mcp-system"
	// CAName is the local CA ClusterIssuer, the configuration's issuerRef.
	CAName = "mcp-local-ca"
	// UsersSecret is the static users Secret the configuration names.
	UsersSecret = "mcp-users"
	// DevUser is a member (Admin) of the sample handle acme.
	DevUser = "owner@acme.example"
	// SampleHandle is the handle of config/samples.
	SampleHandle = "acme"
)

// PlatformConfig is the local platform configuration: handles at
// https://{handle}.mcp.localhost:PORT/mcp, the gateway and the issuer at
// https://localhost:PORT, the runtime Service on runtimePort.
func PlatformConfig(publicPort, runtimePort int) platform.Config {
	c := fixtures.LocalPlatform(publicPort, Namespace)
	c.GatewayRefs[0].SectionName = "https"
	c.RuntimeService.Port = int32(runtimePort)
	c.TLS = platform.TLS{Mode: platform.TLSModeWildcard, IssuerRef: platform.IssuerRef{Name: CAName, Kind: "ClusterIssuer"}}
	c.SignIn.StaticUsersSecret = UsersSecret
	return c
}

// NoRateLimits lifts every rate limit of a platform configuration, for
// measurements of capacity: all their clients share one address.
func NoRateLimits() platform.RateLimits {
	off := func() *platform.RateLimit { return &platform.RateLimit{} }
	return platform.RateLimits{MCPPerGrant: off(), MCPPerHandle: off(), Registration: off(), SignIn: off(), Token: off()}
}

// OIDC is an upstream OpenID Connect provider the login page offers besides
// the static user; its client secret goes into the Secret OIDCSecret.
type OIDC struct {
	IssuerURL, ClientID, ClientSecret, DisplayName string
}

// OIDCSecret holds the upstream provider's client secret (key
// client-secret).
const OIDCSecret = "mcp-oidc-client"

// signIn is the configuration's signIn.oidc for the provider.
func (o *OIDC) signIn() *platform.OIDCSignIn {
	return &platform.OIDCSignIn{IssuerURL: o.IssuerURL, ClientID: o.ClientID, DisplayName: o.DisplayName,
		ClientSecretRef: platform.SecretKeyRef{Name: OIDCSecret, Key: "client-secret"},
		Scopes:          []string{"openid", "email", "profile", "groups"}, GroupsClaim: "groups"}
}

// Options are the places of one stack.
type Options struct {
	// BinDir holds manager, runtime and links-toolset (make build's bin/).
	BinDir string
	// Dir receives kubeconfig, platform.yaml and tls.crt (the local CA).
	Dir string
	// LogDir receives each process's log.
	LogDir string
	// PublicPort is Traefik's entry point on 127.0.0.1 and the
	// configuration's publicPort.
	PublicPort int
	// RuntimeServiceIP and RuntimePort are the runtime Service's clusterIP
	// (in controlplane.ServiceClusterIPRange) and port, where the balancer
	// listens.
	RuntimeServiceIP string
	RuntimePort      int
	// RuntimeAddrs are the runtime replicas' plain HTTP listeners.
	RuntimeAddrs []string
	// LinksAddr is the example Links toolset's listener.
	LinksAddr string
	// ManagerProbeAddr is the operator's health probe address.
	ManagerProbeAddr string
	// OIDC, when set, is offered for sign-in besides the static user.
	OIDC *OIDC
	// Step reports progress; nil is silent.
	Step func(string)
}

// Stack is a running stack. Stop stops everything it started, in reverse.
type Stack struct {
	Env         *controlplane.Env
	Config      *platform.Config
	ConfigPath  string
	Kubeconfig  string
	CAPEM       []byte
	CAFile      string
	DevUser     string
	DevPassword string
	// LinksURL is the Links toolset's MCP URL, the sample Toolset's url.
	LinksURL    string
	CertManager *edge.CertManager
	Traefik     *edge.Traefik
	Manager     *proc.Process
	Runtimes    []*proc.Process
	Links       *proc.Process

	opts  Options
	stops []func()
}

func (s *Stack) step(msg string) {
	if s.opts.Step != nil {
		s.opts.Step(msg)
	}
}

// onStop registers f to run at Stop, after everything registered later.
func (s *Stack) onStop(what string, f func()) {
	s.stops = append(s.stops, func() {
		if what != "" {
			s.step("stopping " + what)
		}
		f()
	})
}

// Stop stops every process and the control plane, the last started first.
func (s *Stack) Stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// Start starts the stack. On an error it stops what it had started.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	s := &Stack{opts: opts, DevUser: DevUser}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context) error {
	o := s.opts
	for _, d := range []string{o.Dir, o.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	s.step("building the control plane (first run only: about 15 minutes)")
	if _, err := controlplane.Binaries(); err != nil {
		return err
	}
	s.step("starting etcd and kube-apiserver with the CRDs")
	cp, err := controlplane.Start()
	if err != nil {
		return err
	}
	s.Env = cp
	s.onStop("the control plane", func() {
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "failed to stop the control plane:", err)
		}
	})
	s.step("starting kube-controller-manager's garbage collector (deleting a Handle removes what it owned)")
	stopGC, err := cp.StartGarbageCollector()
	if err != nil {
		return err
	}
	s.onStop("", stopGC)
	s.Kubeconfig = filepath.Join(o.Dir, "kubeconfig")
	if err := cp.WriteKubeconfig(s.Kubeconfig, "local-admin"); err != nil {
		return err
	}
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}); err != nil {
		return fmt.Errorf("failed to create namespace %s: %w", Namespace, err)
	}

	cfg := PlatformConfig(o.PublicPort, o.RuntimePort)
	if o.OIDC != nil {
		cfg.SignIn.OIDC = o.OIDC.signIn()
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: OIDCSecret, Namespace: Namespace},
			StringData: map[string]string{"client-secret": o.OIDC.ClientSecret}}
		if err := cp.Client.Create(ctx, secret); err != nil {
			return fmt.Errorf("failed to create the Secret %s: %w", OIDCSecret, err)
		}
	}
	s.ConfigPath = filepath.Join(o.Dir, "platform.yaml")
	if s.Config, err = fixtures.WritePlatform(s.ConfigPath, cfg); err != nil {
		return err
	}

	s.step("building cert-manager's controller (first run only: about 3 minutes)")
	if _, err := edge.CertManagerBinary(); err != nil {
		return err
	}
	s.step("building traefik (first run only: about 10 minutes)")
	if _, err := edge.TraefikBinary(); err != nil {
		return err
	}
	s.step("starting cert-manager's controller (log: " + s.logName("cert-manager.log") + ")")
	cm, err := edge.StartCertManager(ctx, cp.Client, s.Kubeconfig, filepath.Join(o.LogDir, "cert-manager.log"))
	if err != nil {
		return err
	}
	s.CertManager = cm
	s.onStop("cert-manager's controller", cm.Stop)
	s.step("creating the local CA ClusterIssuer " + CAName)
	if s.CAPEM, err = edge.LocalCA(ctx, cp.Client, CAName, cm); err != nil {
		return err
	}
	// The local CA's certificate, what clients trust (MCP_CA_FILE); the
	// name is the one mcpctl's hints and the docs give (--ca-file
	// .local/tls.crt) since the local TLS front's days.
	s.CAFile = filepath.Join(o.Dir, "tls.crt")
	if err := os.WriteFile(s.CAFile, s.CAPEM, 0o600); err != nil {
		return err
	}

	s.step("starting the operator (log: " + s.logName("manager.log") + ")")
	manager, err := proc.Start(filepath.Join(o.LogDir, "manager.log"), []string{"KUBECONFIG=" + s.Kubeconfig},
		filepath.Join(o.BinDir, "manager"), "--platform-config="+s.ConfigPath,
		"--metrics-bind-address=0", "--health-probe-bind-address="+o.ManagerProbeAddr)
	if err != nil {
		return err
	}
	s.Manager = manager
	s.onStop("the operator", func() { manager.Stop(10 * time.Second) })

	s.step("applying config/samples")
	files, err := controlplane.SampleFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		if _, err := controlplane.ApplyFile(ctx, cp.Client, f, "localstack"); err != nil {
			return err
		}
	}
	s.step("waiting for the operator to report the sample handle's endpoints")
	if err := s.waitForEndpoints(ctx, SampleHandle); err != nil {
		return err
	}

	s.step("creating the sign-in user " + DevUser)
	if s.DevPassword, err = createDevUser(ctx, cp); err != nil {
		return err
	}
	serviceAddr, err := edge.RuntimeService(ctx, cp.Client, s.Config, o.RuntimeServiceIP)
	if err != nil {
		return err
	}
	s.step("passing connections to " + serviceAddr + " (the runtime Service) round-robin to the replicas")
	lb, err := StartBalancer(serviceAddr, o.RuntimeAddrs)
	if err != nil {
		return err
	}
	s.onStop("", lb.Stop)
	for i, addr := range o.RuntimeAddrs {
		logName := fmt.Sprintf("runtime-%d.log", i+1)
		s.step(fmt.Sprintf("starting runtime replica %d on %s (log: %s)", i+1, addr, s.logName(logName)))
		replica, err := proc.Start(filepath.Join(o.LogDir, logName), []string{"KUBECONFIG=" + s.Kubeconfig},
			filepath.Join(o.BinDir, "runtime"), "--platform-config="+s.ConfigPath, "--listen="+addr,
			// Replicas share the host: each its own metrics port (in its log).
			"--metrics-listen=127.0.0.1:0")
		if err != nil {
			return err
		}
		s.Runtimes = append(s.Runtimes, replica)
		s.onStop(fmt.Sprintf("runtime replica %d", i+1), func() { replica.Stop(10 * time.Second) })
		if err := replica.WaitOK(ctx, "http://"+addr+"/readyz", 30*time.Second); err != nil {
			return err
		}
	}
	s.step(fmt.Sprintf("starting traefik, the Gateway, on 127.0.0.1:%d (log: %s)", o.PublicPort, s.logName("traefik.log")))
	traefik, err := edge.StartTraefik(ctx, cp.Client, edge.TraefikOptions{
		Kubeconfig: s.Kubeconfig, Platform: s.Config, LogPath: filepath.Join(o.LogDir, "traefik.log"),
		// No idle connections to the Service: each request is a new
		// connection the balancer may give to either replica.
		Args: []string{"--serversTransport.maxIdleConnsPerHost=-1"},
	})
	if err != nil {
		return err
	}
	s.Traefik = traefik
	s.onStop("traefik", traefik.Stop)
	s.step(fmt.Sprintf("waiting for %s to answer with the certificate cert-manager issued", s.Config.Issuer))
	if err := s.waitForGateway(ctx); err != nil {
		return err
	}

	s.step("starting the example Links toolset on " + o.LinksAddr + " (log: " + s.logName("links-toolset.log") + ")")
	s.LinksURL = "http://" + o.LinksAddr + "/mcp"
	// The toolset trusts the local CA to fetch the JWKS through the Gateway.
	links, err := proc.Start(filepath.Join(o.LogDir, "links-toolset.log"), []string{"SSL_CERT_FILE=" + s.CAFile},
		filepath.Join(o.BinDir, "links-toolset"), "--listen="+o.LinksAddr, "--issuer="+s.Config.Issuer, "--audience="+s.LinksURL)
	if err != nil {
		return err
	}
	s.Links = links
	s.onStop("the Links toolset", func() { links.Stop(10 * time.Second) })
	if err := links.WaitOK(ctx, "http://"+o.LinksAddr+"/healthz", 30*time.Second); err != nil {
		return err
	}
	return s.pointToolset(ctx, "links", s.LinksURL)
}

// logName is a log's path as the user should read it.
func (s *Stack) logName(name string) string {
	p := filepath.Join(s.opts.LogDir, name)
	if r, err := filepath.Rel(controlplane.RepoRoot(), p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// Wait blocks until ctx is done (nil) or a long-running process exits (its
// error).
func (s *Stack) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.Manager.Exited():
		return s.Manager.ExitErr("operator")
	case <-s.Traefik.Exited():
		return s.Traefik.ExitErr("traefik")
	case <-s.CertManager.Exited():
		return s.CertManager.ExitErr("cert-manager controller")
	}
}

// Roots is a pool with only the local CA.
func (s *Stack) Roots() *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.CAPEM)
	return roots
}

// HTTPClient dials Traefik's entry point for every host and trusts only the
// local CA.
func (s *Stack) HTTPClient() *http.Client {
	return edge.Dialer(s.Traefik.Addr, &tls.Config{RootCAs: s.Roots(), MinVersion: tls.VersionTLS12})
}

// waitForEndpoints waits until the operator has written a handle's status.
func (s *Stack) waitForEndpoints(ctx context.Context, name string) error {
	deadline := time.After(60 * time.Second)
	for {
		h := &mcpv1alpha1.Handle{}
		if err := s.Env.Client.Get(ctx, types.NamespacedName{Name: name}, h); err == nil && h.Status.Endpoints != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.Manager.Exited():
			return s.Manager.ExitErr("operator")
		case <-deadline:
			return fmt.Errorf("handle %s has no endpoints after 60s; see %s", name, s.Manager.LogPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createDevUser writes the static users Secret with one member of the sample
// handle and a password made for this run.
func createDevUser(ctx context.Context, cp *controlplane.Env) (string, error) {
	password := rand.Text()[:16]
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	secret := fixtures.UsersSecretIn(Namespace, UsersSecret, web.StaticUser{Email: DevUser, PasswordHash: string(hash)})
	if err := cp.Client.Create(ctx, secret); err != nil {
		return "", fmt.Errorf("failed to create the sign-in user: %w", err)
	}
	return password, nil
}

// waitForGateway waits until Traefik serves the gateway host with a
// certificate of the local CA (it has its own until the Secret exists).
func (s *Stack) waitForGateway(ctx context.Context) error {
	if !x509.NewCertPool().AppendCertsFromPEM(s.CAPEM) {
		return errors.New("the local CA's certificate does not parse")
	}
	hc := s.HTTPClient()
	deadline := time.After(60 * time.Second)
	var last error
	for {
		resp, err := hc.Get(s.Config.Issuer + "/.well-known/oauth-authorization-server") //nolint:noctx
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
		case <-s.Traefik.Exited():
			return s.Traefik.ExitErr("traefik")
		case <-deadline:
			return fmt.Errorf("%s does not answer after 60s (%w); see %s and %s", s.Config.Issuer, last,
				s.logName("traefik.log"), s.logName("cert-manager.log"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pointToolset sets a sample Toolset's URL to the local process serving it.
func (s *Stack) pointToolset(ctx context.Context, name, url string) error {
	ts := &mcpv1alpha1.Toolset{}
	if err := s.Env.Client.Get(ctx, types.NamespacedName{Name: name}, ts); err != nil {
		return fmt.Errorf("failed to read the sample Toolset %s: %w", name, err)
	}
	ts.Spec.URL = url
	if err := s.Env.Client.Update(ctx, ts); err != nil {
		return fmt.Errorf("failed to point the Toolset %s at %s: %w", name, url, err)
	}
	return nil
}

// FreeAddr returns host:port with a port free right now on host.
func FreeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// Package edge starts the platform's real edge next to a control plane of
// test/framework/controlplane, as processes on this machine: Traefik with its
// Kubernetes Gateway provider (the Gateway API implementation that writes
// route status and terminates TLS) and cert-manager's controller with a local
// CA ClusterIssuer. Both are built from their Go modules by
// hack/build-traefik.sh and hack/build-cert-manager.sh, once per version.
//
// Traffic reaches a process on this machine through a Service with a fixed
// clusterIP in controlplane.ServiceClusterIPRange (loopback): Traefik runs
// with native load balancing, so it proxies to the Service's clusterIP and
// port, where the process listens (the apiserver refuses loopback
// EndpointSlice addresses, so endpoints cannot point there).
package edge

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
)

const (
	// GatewayClassName is the GatewayClass the helper creates for Traefik.
	GatewayClassName = "traefik"
	// TraefikControllerName is Traefik's Gateway API controller name.
	TraefikControllerName = "traefik.io/gateway-controller"
	// CertManagerNamespace is cert-manager's cluster resource namespace: the
	// local CA's key pair lives there.
	CertManagerNamespace = "cert-manager"
	// DefaultListenerName is the listener name of a gatewayRef without a
	// sectionName.
	DefaultListenerName = "https"
	fieldOwner          = "mcp-edge"
)

// TraefikBinary returns the Traefik binary: $TRAEFIK when set, otherwise the
// one hack/build-traefik.sh builds on first use.
func TraefikBinary() (string, error) { return controlplane.Tool("TRAEFIK", "build-traefik.sh") }

// CertManagerBinary returns cert-manager's controller: $CERT_MANAGER when
// set, otherwise the one hack/build-cert-manager.sh builds on first use.
func CertManagerBinary() (string, error) {
	return controlplane.Tool("CERT_MANAGER", "build-cert-manager.sh")
}

// CertManager is a running cert-manager controller.
type CertManager struct {
	*proc.Process
}

// StartCertManager starts cert-manager's controller against the apiserver of
// kubeconfig, with its output in logPath, after creating its cluster resource
// namespace. Stop it with Stop.
func StartCertManager(ctx context.Context, c client.Client, kubeconfig, logPath string) (*CertManager, error) {
	bin, err := CertManagerBinary()
	if err != nil {
		return nil, err
	}
	if err := ensureNamespace(ctx, c, CertManagerNamespace); err != nil {
		return nil, err
	}
	p, err := proc.Start(logPath, []string{"KUBECONFIG=" + kubeconfig}, bin,
		"--kubeconfig="+kubeconfig, "--cluster-resource-namespace="+CertManagerNamespace)
	if err != nil {
		return nil, err
	}
	return &CertManager{Process: p}, nil
}

// Stop stops the controller.
func (m *CertManager) Stop() { m.Process.Stop(10 * time.Second) }

// LocalCA creates a CA ClusterIssuer named name, as a local platform
// configuration's tls.issuerRef names it: a SelfSigned ClusterIssuer
// (name-selfsigned) signs the CA Certificate name in CertManagerNamespace,
// whose Secret (also name) the CA ClusterIssuer name signs with. It waits
// until that issuer is Ready and returns the CA certificate in PEM, the one
// clients trust.
func LocalCA(ctx context.Context, c client.Client, name string, cm *CertManager) ([]byte, error) {
	selfSigned := &certmanagerv1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-selfsigned"},
		Spec: certmanagerv1.IssuerSpec{IssuerConfig: certmanagerv1.IssuerConfig{
			SelfSigned: &certmanagerv1.SelfSignedIssuer{},
		}},
	}
	caCert := &certmanagerv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: CertManagerNamespace},
		Spec: certmanagerv1.CertificateSpec{
			IsCA:       true,
			CommonName: name,
			SecretName: name,
			Duration:   &metav1.Duration{Duration: 10 * 365 * 24 * time.Hour},
			PrivateKey: &certmanagerv1.CertificatePrivateKey{Algorithm: certmanagerv1.ECDSAKeyAlgorithm, Size: 256},
			IssuerRef:  cmmeta.IssuerReference{Name: selfSigned.Name, Kind: "ClusterIssuer", Group: "cert-manager.io"},
		},
	}
	ca := &certmanagerv1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certmanagerv1.IssuerSpec{IssuerConfig: certmanagerv1.IssuerConfig{
			CA: &certmanagerv1.CAIssuer{SecretName: name},
		}},
	}
	for _, o := range []client.Object{selfSigned, caCert, ca} {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("failed to create %T %s: %w", o, o.GetName(), err)
		}
	}
	err := cm.Poll(ctx, 60*time.Second, func() (bool, error) {
		ci := &certmanagerv1.ClusterIssuer{}
		if err := c.Get(ctx, types.NamespacedName{Name: name}, ci); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		for _, cond := range ci.Status.Conditions {
			if cond.Type == certmanagerv1.IssuerConditionReady && cond.Status == cmmeta.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ClusterIssuer %s is not Ready: %w", name, err)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: CertManagerNamespace, Name: name}, s); err != nil {
		return nil, err
	}
	return s.Data[corev1.TLSCertKey], nil
}

// Traefik is a running Traefik.
type Traefik struct {
	*proc.Process
	// Addr is the HTTPS entry point, where the Gateway listeners are served.
	Addr     string
	gateways []platform.GatewayRef
}

// Stop stops Traefik.
func (t *Traefik) Stop() { t.Process.Stop(10 * time.Second) }

// TraefikOptions says where Traefik listens and for which platform.
type TraefikOptions struct {
	// Kubeconfig is the path of a kubeconfig for the apiserver.
	Kubeconfig string
	// Platform is the platform configuration whose gatewayRefs the helper
	// creates as Gateways of the Traefik GatewayClass, each with an HTTPS
	// listener (the ref's sectionName, or "https") on its publicPort
	// terminating with tls.secretName.
	Platform *platform.Config
	// Host is the loopback address of the entry point, 127.0.0.1 by default;
	// the port is the platform's publicPort.
	Host string
	// LogPath receives Traefik's output.
	LogPath string
	// Args are more Traefik flags (static configuration).
	Args []string
}

// StartTraefik creates the GatewayClass and the Gateways of the platform's
// gatewayRefs and starts Traefik's Kubernetes Gateway provider against them,
// waiting until Traefik has accepted the GatewayClass.
func StartTraefik(ctx context.Context, c client.Client, opts TraefikOptions) (*Traefik, error) {
	bin, err := TraefikBinary()
	if err != nil {
		return nil, err
	}
	cfg := opts.Platform
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if err := createGateways(ctx, c, cfg); err != nil {
		return nil, err
	}
	pingAddr, err := freeAddr(host)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(host, fmt.Sprint(cfg.PublicPort))
	args := []string{
		"--global.checkNewVersion=false",
		"--global.sendAnonymousUsage=false",
		"--log.level=INFO",
		"--entryPoints.websecure.address=" + addr,
		// Route on the path as the client sent it: Traefik's default
		// sanitization serves /mcp//acme/mcp as /mcp/acme/mcp, whose
		// metadata names a URL other than the client's (docs/install.md).
		"--entryPoints.websecure.http.sanitizePath=false",
		// The internal entry point serves only the ping endpoint.
		"--entryPoints.traefik.address=" + pingAddr,
		"--ping=true",
		"--providers.kubernetesgateway=true",
		"--providers.kubernetesgateway.statusAddress.ip=" + host,
		"--providers.kubernetesgateway.nativeLBByDefault=true",
		// A new route is served after at most this pause between two
		// configuration reloads (Traefik's default is 2s), so a handle
		// applied right after another is not kept waiting.
		"--providers.providersThrottleDuration=200ms",
	}
	p, err := proc.Start(opts.LogPath, []string{"KUBECONFIG=" + opts.Kubeconfig}, bin, append(args, opts.Args...)...)
	if err != nil {
		return nil, err
	}
	t := &Traefik{Process: p, Addr: addr}
	if err := p.Poll(ctx, 60*time.Second, func() (bool, error) {
		return httpOK("http://" + pingAddr + "/ping"), nil
	}); err != nil {
		t.Stop()
		return nil, fmt.Errorf("traefik does not answer its ping: %w", err)
	}
	// Traefik claims the GatewayClass, then reports on each Gateway. A
	// Gateway is neither Accepted nor Programmed until its listeners'
	// certificate Secret exists, which cert-manager writes for the operator's
	// Certificate later; WaitProgrammed waits for that.
	if err := p.Poll(ctx, 60*time.Second, func() (bool, error) {
		gc := &gatewayv1.GatewayClass{}
		if err := c.Get(ctx, types.NamespacedName{Name: GatewayClassName}, gc); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(gc.Status.Conditions, string(gatewayv1.GatewayClassConditionStatusAccepted)), nil
	}); err != nil {
		t.Stop()
		return nil, fmt.Errorf("traefik has not accepted the GatewayClass %s: %w", GatewayClassName, err)
	}
	t.gateways = cfg.GatewayRefs
	return t, nil
}

// WaitProgrammed waits until Traefik reports every Gateway of the platform
// Programmed.
func (t *Traefik) WaitProgrammed(ctx context.Context, c client.Client, timeout time.Duration) error {
	for _, ref := range t.gateways {
		var g gatewayv1.Gateway
		if err := t.Poll(ctx, timeout, func() (bool, error) {
			if err := c.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &g); err != nil {
				return false, err
			}
			return meta.IsStatusConditionTrue(g.Status.Conditions, string(gatewayv1.GatewayConditionProgrammed)), nil
		}); err != nil {
			return fmt.Errorf("gateway %s/%s is not Programmed (conditions %+v): %w", ref.Namespace, ref.Name, g.Status.Conditions, err)
		}
	}
	return nil
}

// createGateways creates the GatewayClass and one Gateway per distinct
// gatewayRef, with one HTTPS listener per listener name referenced.
func createGateways(ctx context.Context, c client.Client, cfg *platform.Config) error {
	gc := &gatewayv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayClassName},
		Spec:       gatewayv1.GatewayClassSpec{ControllerName: TraefikControllerName},
	}
	if err := c.Create(ctx, gc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create the GatewayClass: %w", err)
	}
	type key struct{ ns, name string }
	listeners := map[key][]string{}
	var order []key
	for _, ref := range cfg.GatewayRefs {
		k := key{ref.Namespace, ref.Name}
		if _, ok := listeners[k]; !ok {
			order = append(order, k)
		}
		l := ref.SectionName
		if l == "" {
			l = DefaultListenerName
		}
		listeners[k] = append(listeners[k], l)
	}
	all := gatewayv1.NamespacesFromAll
	for _, k := range order {
		if err := ensureNamespace(ctx, c, k.ns); err != nil {
			return err
		}
		g := &gatewayv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: k.name, Namespace: k.ns},
			Spec:       gatewayv1.GatewaySpec{GatewayClassName: GatewayClassName},
		}
		secretNS := gatewayv1.Namespace(cfg.Namespace)
		seen := map[string]bool{}
		for _, l := range listeners[k] {
			if seen[l] {
				continue
			}
			seen[l] = true
			g.Spec.Listeners = append(g.Spec.Listeners, gatewayv1.Listener{
				Name:     gatewayv1.SectionName(l),
				Port:     cfg.PublicPort,
				Protocol: gatewayv1.HTTPSProtocolType,
				TLS: &gatewayv1.ListenerTLSConfig{
					Mode: new(gatewayv1.TLSModeTerminate),
					CertificateRefs: []gatewayv1.SecretObjectReference{{
						Name: gatewayv1.ObjectName(cfg.TLS.SecretName), Namespace: &secretNS,
					}},
				},
				AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: &all}},
			})
		}
		if err := c.Create(ctx, g); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("failed to create Gateway %s/%s: %w", k.ns, k.name, err)
		}
	}
	return nil
}

// RuntimeService creates the platform's runtimeService as a Service without
// a selector and with the fixed clusterIP, which must be in
// controlplane.ServiceClusterIPRange; the runtime then listens on
// clusterIP:port and Traefik proxies there. It returns that address.
func RuntimeService(ctx context.Context, c client.Client, cfg *platform.Config, clusterIP string) (string, error) {
	ref := cfg.RuntimeService
	if err := ensureNamespace(ctx, c, ref.Namespace); err != nil {
		return "", err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: ref.Namespace},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP,
			Ports: []corev1.ServicePort{{
				Name: "http", Port: ref.Port, TargetPort: intstr.FromInt32(ref.Port), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	if err := c.Create(ctx, svc); err != nil {
		return "", fmt.Errorf("failed to create the runtime Service %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	return net.JoinHostPort(clusterIP, fmt.Sprint(ref.Port)), nil
}

// Dialer returns an HTTP client that sends every request to addr (the
// entry point on loopback) whatever the URL's host, verifying TLS against
// roots for the URL's host name: *.localhost does not resolve here.
func Dialer(addr string, roots *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig: roots,
		},
	}
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create namespace %s: %w", name, err)
	}
	return nil
}

func freeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func httpOK(url string) bool {
	resp, err := http.Get(url) //nolint:gosec,noctx // a loopback URL of ours
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

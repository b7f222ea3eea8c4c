package controllers

import (
	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// Names of the objects written for a handle, all in the platform namespace.
func hostedRouteName(handle string) string { return "handle-" + handle }
func compatRouteName(handle string) string { return "handle-" + handle + "-compat" }
func handleCertName(handle string) string  { return "handle-" + handle }
func handleSecretName(handle string) string {
	return "handle-" + handle + "-tls"
}
func listenerSetName(handle string) string { return "handle-" + handle }

// Names of the platform's own objects.
const (
	platformRouteName = "mcp-platform"
	platformCertName  = "mcp-platform"
)

// HandleObjects returns every object the edge needs for one handle: the
// hosted HTTPRoute, the compatibility HTTPRoute on the gateway host and, in
// perHandle TLS mode, its Certificate and the ListenerSet that attaches it to
// the Gateway. Owner references are added by the reconciler.
func HandleObjects(cfg *platform.Config, h *mcpv1alpha1.Handle) []client.Object {
	objs := []client.Object{hostedRoute(cfg, h.Name), compatRoute(cfg, h.Name)}
	if cfg.TLS.Mode == platform.TLSModePerHandle {
		objs = append(objs, handleCertificate(cfg, h.Name), listenerSet(cfg, h.Name))
	}
	return objs
}

// PlatformObjects returns the gateway host's HTTPRoute and the platform
// Certificate: in wildcard mode it covers *.{mcpDomain} and the gateway host,
// in perHandle mode the gateway host only.
func PlatformObjects(cfg *platform.Config) []client.Object {
	return []client.Object{platformRoute(cfg), platformCertificate(cfg)}
}

func hostedRoute(cfg *platform.Config, handle string) *gatewayv1.HTTPRoute {
	parents := gatewayParents(cfg)
	if cfg.TLS.Mode == platform.TLSModePerHandle {
		parents = []gatewayv1.ParentReference{{
			Group:     ptr.To(gatewayv1.Group(gatewayv1.GroupName)),
			Kind:      ptr.To(gatewayv1.Kind("ListenerSet")),
			Name:      gatewayv1.ObjectName(listenerSetName(handle)),
			Namespace: ptr.To(gatewayv1.Namespace(cfg.Namespace)),
		}}
	}
	return httpRoute(cfg, hostedRouteName(handle), labels(ComponentHosted, handle), parents, cfg.HostedHost(handle),
		exact(platform.MCPPath),
		exact(platform.ProtectedResourcePath+platform.MCPPath),
		exact(platform.ProtectedResourcePath),
	)
}

func compatRoute(cfg *platform.Config, handle string) *gatewayv1.HTTPRoute {
	path := platform.CompatibilityPath(handle)
	return httpRoute(cfg, compatRouteName(handle), labels(ComponentCompatibility, handle), gatewayParents(cfg), cfg.GatewayHost,
		exact(path),
		exact(platform.ProtectedResourcePath+path),
	)
}

func platformRoute(cfg *platform.Config) *gatewayv1.HTTPRoute {
	var matches []gatewayv1.HTTPRouteMatch
	if cfg.SharedGateway.Enabled {
		matches = append(matches, exact(platform.MCPPath), exact(platform.ProtectedResourcePath+platform.MCPPath))
	}
	matches = append(matches,
		exact(platform.AuthorizationServerPath),
		exact(platform.JWKSPath),
		prefix(platform.OAuthPrefix),
		prefix(platform.UIPrefix),
	)
	return httpRoute(cfg, platformRouteName, labels(ComponentPlatform, ""), gatewayParents(cfg), cfg.GatewayHost, matches...)
}

// httpRoute builds a route for one hostname whose matches all go to the
// runtime Service.
func httpRoute(cfg *platform.Config, name string, l map[string]string, parents []gatewayv1.ParentReference, host string, matches ...gatewayv1.HTTPRouteMatch) *gatewayv1.HTTPRoute {
	return &gatewayv1.HTTPRoute{
		TypeMeta:   metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: "HTTPRoute"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cfg.Namespace, Labels: l},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: parents},
			Hostnames:       []gatewayv1.Hostname{gatewayv1.Hostname(host)},
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches: matches,
				BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
					BackendObjectReference: gatewayv1.BackendObjectReference{
						Name:      gatewayv1.ObjectName(cfg.RuntimeService.Name),
						Namespace: runtimeNamespace(cfg),
						Port:      ptr.To(cfg.RuntimeService.Port),
					},
				}}},
			}},
		},
	}
}

// runtimeNamespace is set only when the runtime Service lives outside the
// routes' namespace (which then needs a ReferenceGrant).
func runtimeNamespace(cfg *platform.Config) *gatewayv1.Namespace {
	if cfg.RuntimeService.Namespace == cfg.Namespace {
		return nil
	}
	return ptr.To(gatewayv1.Namespace(cfg.RuntimeService.Namespace))
}

func gatewayParents(cfg *platform.Config) []gatewayv1.ParentReference {
	parents := make([]gatewayv1.ParentReference, 0, len(cfg.GatewayRefs))
	for _, g := range cfg.GatewayRefs {
		p := gatewayv1.ParentReference{
			Name:      gatewayv1.ObjectName(g.Name),
			Namespace: ptr.To(gatewayv1.Namespace(g.Namespace)),
		}
		if g.SectionName != "" {
			p.SectionName = ptr.To(gatewayv1.SectionName(g.SectionName))
		}
		parents = append(parents, p)
	}
	return parents
}

func exact(path string) gatewayv1.HTTPRouteMatch {
	return gatewayv1.HTTPRouteMatch{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchExact), Value: ptr.To(path)}}
}

func prefix(path string) gatewayv1.HTTPRouteMatch {
	return gatewayv1.HTTPRouteMatch{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To(path)}}
}

func handleCertificate(cfg *platform.Config, handle string) *certmanagerv1.Certificate {
	return certificate(cfg, handleCertName(handle), handleSecretName(handle), labels(ComponentCertificate, handle), cfg.HostedHost(handle))
}

func platformCertificate(cfg *platform.Config) *certmanagerv1.Certificate {
	hosts := []string{cfg.GatewayHost}
	if cfg.TLS.Mode == platform.TLSModeWildcard {
		hosts = []string{"*." + cfg.MCPDomain, cfg.GatewayHost}
	}
	return certificate(cfg, platformCertName, cfg.TLS.SecretName, labels(ComponentPlatform, ""), hosts...)
}

func certificate(cfg *platform.Config, name, secret string, l map[string]string, hosts ...string) *certmanagerv1.Certificate {
	return &certmanagerv1.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: certmanagerv1.SchemeGroupVersion.String(), Kind: certmanagerv1.CertificateKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cfg.Namespace, Labels: l},
		Spec: certmanagerv1.CertificateSpec{
			SecretName: secret,
			DNSNames:   hosts,
			IssuerRef: cmmeta.IssuerReference{
				Name:  cfg.TLS.IssuerRef.Name,
				Kind:  cfg.TLS.IssuerRef.Kind,
				Group: cfg.TLS.IssuerRef.Group,
			},
			PrivateKey: &certmanagerv1.CertificatePrivateKey{
				Algorithm:      certmanagerv1.ECDSAKeyAlgorithm,
				Size:           256,
				RotationPolicy: certmanagerv1.RotationPolicyAlways,
			},
		},
	}
}

// listenerSet attaches a handle's certificate to the first Gateway with an
// HTTPS listener for the handle's host.
func listenerSet(cfg *platform.Config, handle string) *gatewayv1.ListenerSet {
	g := cfg.GatewayRefs[0]
	return &gatewayv1.ListenerSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: "ListenerSet"},
		ObjectMeta: metav1.ObjectMeta{Name: listenerSetName(handle), Namespace: cfg.Namespace, Labels: labels(ComponentListener, handle)},
		Spec: gatewayv1.ListenerSetSpec{
			ParentRef: gatewayv1.ParentGatewayReference{
				Name:      gatewayv1.ObjectName(g.Name),
				Namespace: ptr.To(gatewayv1.Namespace(g.Namespace)),
			},
			Listeners: []gatewayv1.ListenerEntry{{
				Name:     "https",
				Hostname: ptr.To(gatewayv1.Hostname(cfg.HostedHost(handle))),
				Port:     cfg.PublicPort,
				Protocol: gatewayv1.HTTPSProtocolType,
				TLS: &gatewayv1.ListenerTLSConfig{
					Mode:            ptr.To(gatewayv1.TLSModeTerminate),
					CertificateRefs: []gatewayv1.SecretObjectReference{{Name: gatewayv1.ObjectName(handleSecretName(handle))}},
				},
			}},
		},
	}
}

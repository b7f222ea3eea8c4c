package controllers

import (
	"encoding/json"
	"fmt"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmapply "github.com/cert-manager/cert-manager/pkg/client/applyconfigurations/certmanager/v1"
	cmmetaapply "github.com/cert-manager/cert-manager/pkg/client/applyconfigurations/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metav1apply "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

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

// ownedApply is the apply configuration of an object the operator writes:
// exactly the fields it owns, so a field it stops setting is removed by the
// next apply.
type ownedApply interface {
	runtime.ApplyConfiguration
	GetKind() *string
	GetAPIVersion() *string
	GetName() *string
	GetNamespace() *string
}

// handleApplies returns what the edge needs for one handle, controlled by
// it: the hosted HTTPRoute, the compatibility HTTPRoute on the gateway host
// and, in perHandle TLS mode, its Certificate and the ListenerSet that
// attaches it to the Gateway.
func handleApplies(cfg *platform.Config, h *mcpv1alpha1.Handle) []ownedApply {
	owner := metav1apply.OwnerReference().
		WithAPIVersion(mcpv1alpha1.GroupVersion.String()).WithKind("Handle").
		WithName(h.Name).WithUID(h.UID).
		WithController(true).WithBlockOwnerDeletion(true)
	objs := []ownedApply{
		hostedRoute(cfg, h.Name).WithOwnerReferences(owner),
		compatRoute(cfg, h.Name).WithOwnerReferences(owner),
	}
	if cfg.TLS.Mode == platform.TLSModePerHandle {
		objs = append(objs, handleCertificate(cfg, h.Name).WithOwnerReferences(owner), listenerSet(cfg, h.Name).WithOwnerReferences(owner))
	}
	return objs
}

// platformApplies returns the gateway host's HTTPRoute and the platform
// Certificate: in wildcard mode it covers *.{mcpDomain} and the gateway host,
// in perHandle mode the gateway host only.
func platformApplies(cfg *platform.Config) []ownedApply {
	return []ownedApply{platformRoute(cfg), platformCertificate(cfg)}
}

// HandleObjects returns handleApplies as typed objects, for mcpctl render
// and tests.
func HandleObjects(cfg *platform.Config, h *mcpv1alpha1.Handle) []client.Object {
	return typedObjects(handleApplies(cfg, h))
}

// PlatformObjects returns platformApplies as typed objects.
func PlatformObjects(cfg *platform.Config) []client.Object {
	return typedObjects(platformApplies(cfg))
}

func typedObjects(acs []ownedApply) []client.Object {
	objs := make([]client.Object, 0, len(acs))
	for _, ac := range acs {
		obj, err := typedObject(ac)
		if err != nil {
			// The builders below produce only the kinds typedObject knows.
			panic(err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// emptyObject returns an empty typed object of ac's kind, one of those the
// operator writes.
func emptyObject(ac ownedApply) (client.Object, error) {
	switch ac.(type) {
	case *gwapply.HTTPRouteApplyConfiguration:
		return &gatewayv1.HTTPRoute{}, nil
	case *gwapply.ListenerSetApplyConfiguration:
		return &gatewayv1.ListenerSet{}, nil
	case *cmapply.CertificateApplyConfiguration:
		return &certmanagerv1.Certificate{}, nil
	}
	return nil, fmt.Errorf("no typed object for %T", ac)
}

// typedObject converts ac (as built or as the apiserver answered an apply)
// into its typed object.
func typedObject(ac ownedApply) (client.Object, error) {
	obj, err := emptyObject(ac)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(ac)
	if err == nil {
		err = json.Unmarshal(b, obj)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to convert %T: %w", ac, err)
	}
	return obj, nil
}

func hostedRoute(cfg *platform.Config, handle string) *gwapply.HTTPRouteApplyConfiguration {
	parents := gatewayParents(cfg)
	if cfg.TLS.Mode == platform.TLSModePerHandle {
		parents = []*gwapply.ParentReferenceApplyConfiguration{gwapply.ParentReference().
			WithGroup(gatewayv1.GroupName).
			WithKind("ListenerSet").
			WithName(gatewayv1.ObjectName(listenerSetName(handle))).
			WithNamespace(gatewayv1.Namespace(cfg.Namespace))}
	}
	return httpRoute(cfg, hostedRouteName(handle), labels(ComponentHosted, handle), parents, cfg.HostedHost(handle),
		exact(platform.MCPPath),
		exact(platform.ProtectedResourcePath+platform.MCPPath),
		exact(platform.ProtectedResourcePath),
	)
}

func compatRoute(cfg *platform.Config, handle string) *gwapply.HTTPRouteApplyConfiguration {
	path := platform.CompatibilityPath(handle)
	return httpRoute(cfg, compatRouteName(handle), labels(ComponentCompatibility, handle), gatewayParents(cfg), cfg.GatewayHost,
		exact(path),
		exact(platform.ProtectedResourcePath+path),
	)
}

func platformRoute(cfg *platform.Config) *gwapply.HTTPRouteApplyConfiguration {
	var matches []*gwapply.HTTPRouteMatchApplyConfiguration
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
func httpRoute(cfg *platform.Config, name string, l map[string]string, parents []*gwapply.ParentReferenceApplyConfiguration, host string, matches ...*gwapply.HTTPRouteMatchApplyConfiguration) *gwapply.HTTPRouteApplyConfiguration {
	backend := gwapply.HTTPBackendRef().
		WithName(gatewayv1.ObjectName(cfg.RuntimeService.Name)).
		WithPort(cfg.RuntimeService.Port)
	// The namespace is set only when the runtime Service lives outside the
	// routes' namespace (which then needs a ReferenceGrant).
	if cfg.RuntimeService.Namespace != cfg.Namespace {
		backend.WithNamespace(gatewayv1.Namespace(cfg.RuntimeService.Namespace))
	}
	return gwapply.HTTPRoute(name, cfg.Namespace).
		WithLabels(l).
		WithSpec(gwapply.HTTPRouteSpec().
			WithParentRefs(parents...).
			WithHostnames(gatewayv1.Hostname(host)).
			WithRules(gwapply.HTTPRouteRule().WithMatches(matches...).WithBackendRefs(backend)))
}

func gatewayParents(cfg *platform.Config) []*gwapply.ParentReferenceApplyConfiguration {
	parents := make([]*gwapply.ParentReferenceApplyConfiguration, 0, len(cfg.GatewayRefs))
	for _, g := range cfg.GatewayRefs {
		p := gwapply.ParentReference().
			WithName(gatewayv1.ObjectName(g.Name)).
			WithNamespace(gatewayv1.Namespace(g.Namespace))
		if g.SectionName != "" {
			p.WithSectionName(gatewayv1.SectionName(g.SectionName))
		}
		parents = append(parents, p)
	}
	return parents
}

func exact(path string) *gwapply.HTTPRouteMatchApplyConfiguration {
	return gwapply.HTTPRouteMatch().WithPath(gwapply.HTTPPathMatch().WithType(gatewayv1.PathMatchExact).WithValue(path))
}

func prefix(path string) *gwapply.HTTPRouteMatchApplyConfiguration {
	return gwapply.HTTPRouteMatch().WithPath(gwapply.HTTPPathMatch().WithType(gatewayv1.PathMatchPathPrefix).WithValue(path))
}

func handleCertificate(cfg *platform.Config, handle string) *cmapply.CertificateApplyConfiguration {
	return certificate(cfg, handleCertName(handle), handleSecretName(handle), labels(ComponentCertificate, handle), cfg.HostedHost(handle))
}

func platformCertificate(cfg *platform.Config) *cmapply.CertificateApplyConfiguration {
	hosts := []string{cfg.GatewayHost}
	if cfg.TLS.Mode == platform.TLSModeWildcard {
		hosts = []string{"*." + cfg.MCPDomain, cfg.GatewayHost}
	}
	return certificate(cfg, platformCertName, cfg.TLS.SecretName, labels(ComponentPlatform, ""), hosts...)
}

func certificate(cfg *platform.Config, name, secret string, l map[string]string, hosts ...string) *cmapply.CertificateApplyConfiguration {
	issuer := cmmetaapply.IssuerReference().WithName(cfg.TLS.IssuerRef.Name).WithKind(cfg.TLS.IssuerRef.Kind)
	if cfg.TLS.IssuerRef.Group != "" {
		issuer.WithGroup(cfg.TLS.IssuerRef.Group)
	}
	return cmapply.Certificate(name, cfg.Namespace).
		WithLabels(l).
		WithSpec(cmapply.CertificateSpec().
			WithSecretName(secret).
			WithDNSNames(hosts...).
			WithIssuerRef(issuer).
			WithPrivateKey(cmapply.CertificatePrivateKey().
				WithAlgorithm(certmanagerv1.ECDSAKeyAlgorithm).
				WithSize(256).
				WithRotationPolicy(certmanagerv1.RotationPolicyAlways)))
}

// listenerSet attaches a handle's certificate to the first Gateway with an
// HTTPS listener for the handle's host.
func listenerSet(cfg *platform.Config, handle string) *gwapply.ListenerSetApplyConfiguration {
	g := cfg.GatewayRefs[0]
	return gwapply.ListenerSet(listenerSetName(handle), cfg.Namespace).
		WithLabels(labels(ComponentListener, handle)).
		WithSpec(gwapply.ListenerSetSpec().
			WithParentRef(gwapply.ParentGatewayReference().
				WithName(gatewayv1.ObjectName(g.Name)).
				WithNamespace(gatewayv1.Namespace(g.Namespace))).
			WithListeners(gwapply.ListenerEntry().
				WithName("https").
				WithHostname(gatewayv1.Hostname(cfg.HostedHost(handle))).
				WithPort(cfg.PublicPort).
				WithProtocol(gatewayv1.HTTPSProtocolType).
				WithTLS(gwapply.ListenerTLSConfig().
					WithMode(gatewayv1.TLSModeTerminate).
					WithCertificateRefs(gwapply.SecretObjectReference().WithName(gatewayv1.ObjectName(handleSecretName(handle)))))))
}

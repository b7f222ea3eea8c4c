package helm

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return out
}

// TestPlatformConfig checks that the ConfigMap of every value set is a
// configuration both binaries accept (the same parser and checks they run
// at start-up), naming the runtime Service the chart renders.
func TestPlatformConfig(t *testing.T) {
	for _, name := range valueSets {
		t.Run(name, func(t *testing.T) {
			objs := mustRender(t, name)
			fullname := release
			if name == "perhandle-oidc" {
				fullname = "mcp"
			}
			cm := convert[corev1.ConfigMap](t, mustFind(t, objs, "ConfigMap", fullname+"-platform"))
			cfg, err := platform.Parse([]byte(cm.Data["platform.yaml"]))
			if err != nil {
				t.Fatalf("the rendered platform configuration is refused: %v\n%s", err, cm.Data["platform.yaml"])
			}
			if err := cfg.RequireSignIn(); err != nil {
				t.Errorf("the runtime would refuse it: %v", err)
			}
			svc := convert[corev1.Service](t, mustFind(t, objs, "Service", fullname+"-runtime"))
			if rs := cfg.RuntimeService; rs.Name != svc.Name || rs.Namespace != svc.Namespace || rs.Port != svc.Spec.Ports[0].Port {
				t.Errorf("runtimeService %+v does not name the Service %s/%s port %d", rs, svc.Namespace, svc.Name, svc.Spec.Ports[0].Port)
			}
			if svc.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("the runtime Service targets %s, want the container port http", svc.Spec.Ports[0].TargetPort.String())
			}
			wantNS := namespace
			if name == "no-crds-netpol-monitor" {
				wantNS = "mcp-platform"
			}
			if cfg.Namespace != wantNS {
				t.Errorf("platform namespace %q, want %q", cfg.Namespace, wantNS)
			}
			for _, d := range []string{fullname + "-manager", fullname + "-runtime"} {
				dep := convert[appsv1.Deployment](t, mustFind(t, objs, "Deployment", d))
				if v := dep.Spec.Template.Spec.Volumes; len(v) == 0 || v[0].ConfigMap == nil || v[0].ConfigMap.Name != cm.Name {
					t.Errorf("%s does not mount the ConfigMap %s", d, cm.Name)
				}
				if !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--platform-config=/etc/mcp-handle-operator/platform.yaml") {
					t.Errorf("%s: --platform-config missing from %q", d, dep.Spec.Template.Spec.Containers[0].Args)
				}
			}
		})
	}
}

// TestWorkloads pins what the issue asks of the Deployments with the default
// values: replicas, leader election, probes on the endpoints each binary
// serves, requests, the restricted profile and a read-only root.
func TestWorkloads(t *testing.T) {
	objs := mustRender(t, "defaults")
	manager := convert[appsv1.Deployment](t, mustFind(t, objs, "Deployment", release+"-manager"))
	rt := convert[appsv1.Deployment](t, mustFind(t, objs, "Deployment", release+"-runtime"))
	if *manager.Spec.Replicas != 1 || *rt.Spec.Replicas != 2 {
		t.Errorf("replicas: operator %d, runtime %d; want 1 and 2", *manager.Spec.Replicas, *rt.Spec.Replicas)
	}
	if args := manager.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--leader-elect=true") {
		t.Errorf("operator args %q lack --leader-elect=true", args)
	}
	probes := map[string][2]string{
		// cmd/manager: healthz.Ping checks on --health-probe-bind-address.
		"manager": {"/healthz:health", "/readyz:health"},
		// cmd/runtime: GET /healthz and /readyz (caches synced) on --listen.
		"runtime": {"/healthz:http", "/readyz:http"},
	}
	for _, d := range []*appsv1.Deployment{manager, rt} {
		spec := d.Spec.Template.Spec
		c := spec.Containers[0]
		want := probes[c.Name]
		for i, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: probe %d missing", d.Name, i)
				continue
			}
			if got := p.HTTPGet.Path + ":" + p.HTTPGet.Port.String(); got != want[i] {
				t.Errorf("%s: probe %d on %s, want %s", d.Name, i, got, want[i])
			}
			if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.HTTPGet.Port.String() }) {
				t.Errorf("%s: probe port %s is not a container port", d.Name, p.HTTPGet.Port.String())
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: no cpu and memory requests", d.Name)
		}
		ps, sc := spec.SecurityContext, c.SecurityContext
		if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod security context %+v is not restricted", d.Name, ps)
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: container security context %+v is not restricted with a read-only root", d.Name, sc)
		}
		if spec.ServiceAccountName != d.Name || find(objs, "ServiceAccount", d.Name) == nil {
			t.Errorf("%s: runs as %q, want its own ServiceAccount", d.Name, spec.ServiceAccountName)
		}
	}
	pdb := mustFind(t, objs, "PodDisruptionBudget", release+"-runtime")
	if got, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); fmt.Sprint(got) != "1" {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", got)
	}
	for _, kind := range []string{"ServiceMonitor", "NetworkPolicy", "Secret"} {
		for _, o := range objs {
			if o.GetKind() == kind {
				t.Errorf("the default values render %s %s", kind, o.GetName())
			}
		}
	}
}

// rbacTriple is one permission: API group, resource, verb.
type rbacTriple struct{ group, resource, verb string }

func (r rbacTriple) String() string { return fmt.Sprintf("%s/%s:%s", r.group, r.resource, r.verb) }

func triples(rules []rbacv1.PolicyRule) map[rbacTriple]bool {
	set := map[rbacTriple]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					set[rbacTriple{g, res, v}] = true
				}
			}
		}
	}
	return set
}

// grants are the permissions a chart gives one ServiceAccount, by the
// namespace they hold in ("" for cluster-wide).
func grants(t *testing.T, objs []*unstructured.Unstructured, sa string) map[rbacTriple][]string {
	t.Helper()
	out := map[rbacTriple][]string{}
	for _, o := range objs {
		if o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "RoleBinding" {
			continue
		}
		b := convert[rbacv1.RoleBinding](t, o)
		if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Name == sa }) {
			continue
		}
		var rules []rbacv1.PolicyRule
		if b.RoleRef.Kind == "ClusterRole" {
			if o.GetKind() != "ClusterRoleBinding" {
				t.Fatalf("%s binds ClusterRole %s in a namespace; the chart does not do that", b.Name, b.RoleRef.Name)
			}
			rules = convert[rbacv1.ClusterRole](t, mustFind(t, objs, "ClusterRole", b.RoleRef.Name)).Rules
		} else {
			role := find(objs, "Role", b.RoleRef.Name)
			if role == nil || role.GetNamespace() != b.Namespace {
				t.Fatalf("RoleBinding %s/%s refers to Role %s, not rendered in its namespace", b.Namespace, b.Name, b.RoleRef.Name)
			}
			rules = convert[rbacv1.Role](t, role).Rules
		}
		for tr := range triples(rules) {
			out[tr] = append(out[tr], b.Namespace)
		}
	}
	return out
}

// generatedRules reads the rules controller-gen writes from the
// +kubebuilder:rbac markers.
func generatedRules(t *testing.T, path string) map[rbacTriple]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(), path))
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, o := range decode(t, data) {
		rules = append(rules, convert[rbacv1.ClusterRole](t, o).Rules...)
	}
	return triples(rules)
}

// TestRBAC checks that each ServiceAccount of the chart is granted exactly
// the permissions generated from the markers (config/rbac and
// config/rbac/runtime), no more and no fewer, and that the ones the binaries
// need in one namespace only are granted there only.
func TestRBAC(t *testing.T) {
	for _, name := range []string{"defaults", "no-crds-netpol-monitor"} {
		t.Run(name, func(t *testing.T) {
			objs := mustRender(t, name)
			platformNS := namespace
			if name == "no-crds-netpol-monitor" {
				platformNS = "mcp-platform"
			}
			for _, c := range []struct {
				sa, generated string
				// namespaced: resource -> namespace it must be confined to.
				namespaced map[string]string
			}{
				{release + "-manager", "config/rbac/role.yaml", map[string]string{
					"secrets": platformNS, "certificates": platformNS, "listenersets": platformNS, "leases": namespace,
				}},
				{release + "-runtime", "config/rbac/runtime/role.yaml", map[string]string{
					"secrets": platformNS, "leases": platformNS, "events": "default",
				}},
			} {
				want := generatedRules(t, c.generated)
				got := grants(t, objs, c.sa)
				for tr := range want {
					if _, ok := got[tr]; !ok {
						t.Errorf("%s: %s (from %s) is not granted by the chart", c.sa, tr, c.generated)
					}
				}
				for tr, nss := range got {
					if !want[tr] {
						t.Errorf("%s: the chart grants %s, which %s does not", c.sa, tr, c.generated)
					}
					if ns, ok := c.namespaced[tr.resource]; ok && !slices.Equal(nss, []string{ns}) {
						t.Errorf("%s: %s granted in %q, want only in namespace %s", c.sa, tr, nss, ns)
					}
					// HTTPRoutes are watched everywhere but written in the platform namespace only.
					if tr.resource == "httproutes" && !slices.Contains([]string{"get", "list", "watch"}, tr.verb) && !slices.Equal(nss, []string{platformNS}) {
						t.Errorf("%s: %s granted in %q, want only in namespace %s", c.sa, tr, nss, platformNS)
					}
				}
			}
		})
	}
}

// TestOptionalObjects checks the ServiceMonitor and NetworkPolicies of the
// third value set.
func TestOptionalObjects(t *testing.T) {
	objs := mustRender(t, "no-crds-netpol-monitor")
	sm := mustFind(t, objs, "ServiceMonitor", release+"-manager")
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack release=prometheus", sm.GetLabels())
	}
	metrics := convert[corev1.Service](t, mustFind(t, objs, "Service", release+"-manager-metrics"))
	dep := convert[appsv1.Deployment](t, mustFind(t, objs, "Deployment", release+"-manager"))
	for k, v := range metrics.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("the metrics Service selects %s=%s, which the operator pods do not carry", k, v)
		}
	}
	if !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--metrics-bind-address=:8080") {
		t.Errorf("operator args lack --metrics-bind-address=:8080")
	}
	np := mustFind(t, objs, "NetworkPolicy", release+"-runtime")
	// The HTTP port from the Gateway's namespace, the metrics port from
	// the monitoring one.
	from, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	if len(from) != 2 || !strings.Contains(fmt.Sprint(from[0]), "gateway-system") || !strings.Contains(fmt.Sprint(from[0]), "port:http") ||
		!strings.Contains(fmt.Sprint(from[1]), "monitoring") || !strings.Contains(fmt.Sprint(from[1]), "port:metrics") {
		t.Errorf("runtime NetworkPolicy ingress %v does not admit the gateway namespace to http and the monitoring one to metrics only", from)
	}
	mustFind(t, objs, "NetworkPolicy", release+"-manager")
}

// TestSchemaRejects checks that bad values fail with a message naming the
// value, from values.schema.json or the chart's own checks.
func TestSchemaRejects(t *testing.T) {
	base := valuesFile("defaults")
	for _, c := range []struct {
		name  string
		set   []string
		files []string
		want  string
	}{
		{"required values missing", nil, []string{}, "/platform/mcpDomain"},
		{"gateway missing", []string{"platform.gatewayRefs=null"}, []string{base}, "missing property 'gatewayRefs'"},
		{"tls mode", []string{"platform.tls.mode=single"}, []string{base}, "/platform/tls/mode"},
		{"misspelt key", []string{"platform.mcpDomian=x"}, []string{base}, "mcpDomian"},
		{"domain not a DNS name", []string{"platform.mcpDomain=MCP_10x"}, []string{base}, "/platform/mcpDomain"},
		{"issuer not https", []string{"platform.issuer=http://ai.10x.in"}, []string{base}, "/platform/issuer"},
		{"replicas negative", []string{"runtime.replicas=-1"}, []string{base}, "/runtime/replicas"},
		{"duration", []string{"runtime.accessTokenTTL=soon"}, []string{base}, "/runtime/accessTokenTTL"},
		{"port", []string{"runtime.service.port=70000"}, []string{base}, "/runtime/service/port"},
		{"registration cap negative", []string{"runtime.registration.maxUnusedClients=-1"}, []string{base}, "/runtime/registration/maxUnusedClients"},
		{"oidc without openid", []string{"platform.signIn.oidc.issuerURL=https://sso.example.test", "platform.signIn.oidc.clientID=x",
			"platform.signIn.oidc.clientSecretRef.name=s", "platform.signIn.oidc.clientSecretRef.key=k", "platform.signIn.oidc.scopes={email}"},
			[]string{base}, "/platform/signIn/oidc/scopes"},
		{"no sign-in method", []string{"platform.signIn.staticUsersSecret="}, []string{base}, "platform.signIn"},
		{"crds.install not a boolean", []string{"crds.install=maybe"}, []string{base}, "/crds/install"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := template(t, release, c.files, c.set...)
			if err == nil {
				t.Fatalf("helm template with %q succeeded", c.set)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not name %s:\n%v", c.want, err)
			}
		})
	}
}

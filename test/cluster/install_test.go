// Package cluster runs the README's install for real: the images that
// `make images` builds, imported into a single-node cluster (kubelet,
// containerd, runc, kube-proxy; test/framework/cluster), the chart installed
// with helm next to cert-manager and the Gateway (Traefik) as docs/install.md
// says users bring them, then the official MCP SDK client through the
// Gateway to the runtime pods and on to a Links toolset pod, a runtime pod
// deleted under load, a rolling upgrade and an uninstall. Each step prints
// the pods' events and logs when it fails.
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/cluster"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/edge"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

const (
	release   = "mcp-handle-operator"
	namespace = "mcp-system"
	// The hosts: *.localhost reach the Gateway on this machine (the SDK
	// client dials loopback for them); inside the pods gateway.localhost
	// names the runtime Service (hostAliases), for the toolset's JWK Set.
	mcpDomain   = "mcp.localhost"
	gatewayHost = "gateway.localhost"
	caName      = "mcp-local-ca"
	usersSecret = "mcp-users"
	user        = "owner@acme.example"
	handle      = "acme"
	// registry and version name the images `make images` builds (the
	// chart's defaults); the test builds them for this machine's platform.
	registry = "ghcr.io/10xdotin/mcp-handle-operator"
)

// install is the state the steps share.
type install struct {
	// t is the whole test's: what a step starts for later steps stops
	// when the test ends, not when the step does.
	t          *testing.T
	root, dir  string
	c          *cluster.Cluster
	kube       []string
	version    string
	port       int
	password   string
	caPEM      []byte
	caFile     string
	platform   *platform.Config
	traefik    *edge.Traefik
	certs      *edge.CertManager
	valuesFile string
}

func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and starts a node")
	}
	if os.Geteuid() != 0 {
		t.Skip("a node (kubelet, containerd, bridge, iptables) needs root")
	}
	ctx := context.Background()
	in := &install{t: t, root: controlplane.RepoRoot()}
	dir, err := os.MkdirTemp("", "cluster-install-")
	if err != nil {
		t.Fatal(err)
	}
	in.dir = dir
	in.version = chartAppVersion(t, in.root)

	start := time.Now()
	images := in.buildImages(t)
	t.Logf("images built for this platform in %s", time.Since(start).Round(time.Second))

	start = time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Dir: filepath.Join(dir, "node"), Images: images})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("node logs kept in %s", c.LogDir)
		}
	})
	in.c = c
	in.kube = []string{"KUBECONFIG=" + c.Kubeconfig}
	t.Logf("node Ready %s after start", time.Since(start).Round(time.Millisecond))

	in.step(t, "prerequisites: Gateway API and cert-manager CRDs, cert-manager with a CA, the sign-in user", in.prerequisites)
	in.step(t, "helm install: both Deployments Ready through their probes, the leader holds the Lease", in.helmInstall)
	in.step(t, "the Gateway (Traefik) serves the issuer with the CA's certificate", in.gateway)
	in.step(t, "the SDK client: OAuth and tools/call through the Gateway to the runtime and Links pods", in.sdkClient)
	in.step(t, "a runtime pod deleted under load is replaced; no grant lost, tokens keep working", in.podDeleted)
	in.step(t, "helm upgrade changing a value rolls the runtime with no failed request", in.rollingUpgrade)
	in.step(t, "helm uninstall leaves what docs/install.md says", in.uninstall)
	in.step(t, "the GitOps path: kubectl apply -k config/default reaches Ready and serves", in.kustomize)
}

// kustomize installs config/default, as docs/install.md's GitOps section
// says, through an overlay that only sets what a user edits (platform.yaml)
// and imagePullPolicy Never (the images are imported, not pulled).
func (in *install) kustomize(t *testing.T) {
	overlay := filepath.Join(in.dir, "gitops")
	if err := os.MkdirAll(overlay, 0o700); err != nil {
		t.Fatal(err)
	}
	base, err := filepath.Rel(overlay, filepath.Join(in.root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	platformYAML := fmt.Sprintf(`mcpDomain: %s
gatewayHost: %s
publicPort: %d
namespace: %s
gatewayRefs:
  - {name: mcp-gateway, namespace: gateway-system, sectionName: https}
runtimeService: {name: mcp-runtime, namespace: %s, port: 8080}
tls:
  issuerRef: {name: %s, kind: ClusterIssuer}
sharedGateway: {enabled: true}
signIn: {staticUsersSecret: %s}
`, mcpDomain, gatewayHost, in.port, namespace, namespace, caName, usersSecret)
	never := func(name string) string {
		return fmt.Sprintf(`  - target: {kind: Deployment, name: %s}
    patch: '[{"op": "replace", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"}]'
`, name)
	}
	kustomization := "resources:\n  - " + base + `
configMapGenerator:
  - name: mcp-platform
    behavior: replace
    files: [platform.yaml]
patches:
` + never("mcp-manager") + never("mcp-runtime")
	for name, content := range map[string]string{"platform.yaml": platformYAML, "kustomization.yaml": kustomization} {
		if err := os.WriteFile(filepath.Join(overlay, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	// --force-conflicts only because helm's field manager still owns the
	// CRDs it kept; a cluster that never had the chart needs no force.
	if out, err := in.kubectl("apply", "--server-side", "--force-conflicts", "-k", overlay); err != nil {
		t.Fatalf("kubectl apply -k: %v\n%s", err, out)
	}
	for _, name := range []string{"mcp-manager", "mcp-runtime"} {
		in.waitDeploymentReady(t, name, 3*time.Minute)
	}
	t.Logf("config/default: both Deployments Ready %s after kubectl apply", time.Since(start).Round(time.Millisecond))
	hc := in.httpClient(t)
	resource := in.platform.HostedURL(handle)
	metadata := strings.Replace(resource, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	waitfor.Eventually(t, time.Minute, "acme's metadata through the Gateway to the kustomize install", func() error {
		resp, err := hc.Get(metadata) //nolint:noctx
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// loadClients are MCP clients of the sample connector acme-chatgpt through
// the Gateway, each authorized once (sign-in and consent on the runtime's
// pages), each request on a new connection as a connector's would be.
func (in *install) loadClients(t *testing.T, n int) []*loadgen.Client {
	t.Helper()
	rt := in.httpClient(t).Transport.(*http.Transport)
	rt.DisableKeepAlives = true
	target := loadgen.Target{Issuer: in.platform.Issuer, Resource: in.platform.HostedURL(handle), ClientID: "acme-chatgpt",
		RedirectURI: "https://chatgpt.com/connector/oauth/cb_0123456789abcdef", Scopes: "mcp.connect skills.read links.read",
		Email: user, Password: in.password, Tool: "links_list_links", Arguments: map[string]any{}}
	cs := make([]*loadgen.Client, n)
	for i := range cs {
		c, err := loadgen.NewClient(target, rt, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Authorize(context.Background()); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		cs[i] = c
	}
	return cs
}

// noFailures fails the test for every failed request, with its cause.
func noFailures(t *testing.T, what string, rec *loadgen.Recorder, start time.Time) {
	t.Helper()
	results := rec.Results()
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			t.Errorf("%s: %s of client %d at %.2f s failed, cause %q: %v", what, r.Op, r.Client, r.Start.Sub(start).Seconds(), loadgen.Cause(r.Err), r.Err)
		}
	}
	stats := loadgen.Summarize(results, start, time.Now())
	for _, op := range loadgen.Ops {
		if s := stats[op]; s != nil {
			t.Logf("%s: %s", what, s)
		}
	}
	if len(results) == 0 {
		t.Errorf("%s: no request was made", what)
	}
}

// podDeleted deletes one runtime pod (gracefully, as a drain or a
// rescheduling does) under a light load through the Gateway: the
// Deployment replaces it, no request fails, every grant is still there and
// every client's tokens still work.
func (in *install) podDeleted(t *testing.T) {
	ctx := context.Background()
	cs := in.loadClients(t, 3)
	rec := &loadgen.Recorder{}
	start := time.Now()
	stop := loadgen.Start(cs, rec, loadgen.Mix{Lists: 1, Calls: 1, RefreshEvery: 3})
	time.Sleep(2 * time.Second)
	pods := &corev1.PodList{}
	if err := in.c.Client.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/component": "runtime"}); err != nil || len(pods.Items) == 0 {
		stop()
		t.Fatalf("runtime pods: %v (%d)", err, len(pods.Items))
	}
	victim := pods.Items[0]
	deleted := time.Now()
	if err := in.c.Client.Delete(ctx, &victim); err != nil {
		stop()
		t.Fatal(err)
	}
	waitfor.Eventually(t, 2*time.Minute, "the deleted pod gone", func() error {
		err := in.c.Client.Get(ctx, client.ObjectKeyFromObject(&victim), &corev1.Pod{})
		if err == nil {
			return fmt.Errorf("pod %s still exists", victim.Name)
		}
		return client.IgnoreNotFound(err)
	})
	in.waitDeploymentReady(t, release+"-runtime", 2*time.Minute)
	t.Logf("pod %s deleted; its replacement Ready %s later", victim.Name, time.Since(deleted).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	stop()
	noFailures(t, "pod deleted", rec, start)
	for i, c := range cs {
		for _, name := range c.Grants() {
			if err := in.c.Client.Get(ctx, types.NamespacedName{Name: name}, &mcpv1alpha1.Connection{}); err != nil {
				t.Errorf("grant %s of client %d: %v", name, i, err)
			}
		}
		if err := c.CallTool(ctx); err != nil {
			t.Errorf("client %d after the pod was replaced: %v", i, err)
		}
		if err := c.Refresh(ctx); err != nil {
			t.Errorf("client %d refresh after the pod was replaced: %v", i, err)
		}
	}
}

// rollingUpgrade changes a value (the access token lifetime) with helm
// upgrade under a light load: the runtime Deployment rolls (new pods Ready
// through /readyz before old ones drain) and no request fails.
func (in *install) rollingUpgrade(t *testing.T) {
	ctx := context.Background()
	cs := in.loadClients(t, 3)
	rec := &loadgen.Recorder{}
	before := &appsv1.Deployment{}
	if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: release + "-runtime"}, before); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stop := loadgen.Start(cs, rec, loadgen.Mix{Lists: 1, Calls: 1, RefreshEvery: 3})
	time.Sleep(2 * time.Second)
	upgradeAt := time.Now()
	in.helm(t, "upgrade", release, filepath.Join(in.root, "charts", "mcp-handle-operator"), "-n", namespace, "--values", in.valuesFile,
		"--set", "runtime.accessTokenTTL=30m")
	waitfor.Eventually(t, 3*time.Minute, "the runtime rolled", func() error {
		d := &appsv1.Deployment{}
		if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: release + "-runtime"}, d); err != nil {
			return err
		}
		if d.Generation == before.Generation {
			return fmt.Errorf("generation %d unchanged", d.Generation)
		}
		return nil
	})
	in.waitDeploymentReady(t, release+"-runtime", 3*time.Minute)
	// Until the old pods are gone.
	waitfor.Eventually(t, 2*time.Minute, "the old runtime pods gone", func() error {
		pods := &corev1.PodList{}
		if err := in.c.Client.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/component": "runtime"}); err != nil {
			return err
		}
		if len(pods.Items) != 2 {
			return fmt.Errorf("%d runtime pods", len(pods.Items))
		}
		return nil
	})
	t.Logf("rolling upgrade of the runtime: %s from helm upgrade to the old pods gone", time.Since(upgradeAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	stop()
	noFailures(t, "rolling upgrade", rec, start)
}

// uninstall runs helm uninstall: the Deployments, Services, RBAC and the
// ConfigMap go; the CRDs (and so every Handle, client and grant) and the
// runtime's key Secrets stay.
func (in *install) uninstall(t *testing.T) {
	ctx := context.Background()
	in.helm(t, "uninstall", release, "-n", namespace, "--wait", "--timeout", "2m")
	for _, name := range []string{release + "-manager", release + "-runtime"} {
		if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Errorf("Deployment %s after uninstall: %v", name, err)
		}
	}
	if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: release + "-runtime"}, &corev1.Service{}); !apierrors.IsNotFound(err) {
		t.Errorf("Service after uninstall: %v", err)
	}
	if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: release + "-platform"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap after uninstall: %v", err)
	}
	for _, name := range []string{"handles.mcp.10x.in", "oauthclients.mcp.10x.in", "toolsets.mcp.10x.in", "connections.mcp.10x.in"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := in.c.Client.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil || crd.DeletionTimestamp != nil {
			t.Errorf("CRD %s not kept: %v", name, err)
		}
	}
	if err := in.c.Client.Get(ctx, types.NamespacedName{Name: handle}, &mcpv1alpha1.Handle{}); err != nil {
		t.Errorf("the Handle after uninstall: %v", err)
	}
	for _, name := range []string{"mcp-runtime-signing-keys", "mcp-runtime-upstream-keys"} {
		if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &corev1.Secret{}); err != nil {
			t.Errorf("key Secret %s after uninstall: %v", name, err)
		}
	}
	conns := &mcpv1alpha1.ConnectionList{}
	if err := in.c.Client.List(ctx, conns); err != nil || len(conns.Items) == 0 {
		t.Errorf("grants after uninstall: %v (%d)", err, len(conns.Items))
	}
}

// step runs one step; when it fails the pods' state, events and logs are
// printed and the test stops.
func (in *install) step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	start := time.Now()
	ok := t.Run(name, f)
	t.Logf("%s: %s", name, time.Since(start).Round(time.Millisecond))
	if !ok {
		in.dump(t)
		t.FailNow()
	}
}

// dump prints what a person would look at first.
func (in *install) dump(t *testing.T) {
	for _, args := range [][]string{
		{"get", "nodes,pods,services,endpointslices", "-A", "-o", "wide"},
		{"get", "gateways,httproutes,certificates,certificaterequests,issuers,clusterissuers", "-A", "-o", "wide"},
		{"get", "handles,toolsets,oauthclients", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"describe", "pods", "-n", namespace},
		{"logs", "-n", namespace, "-l", "app.kubernetes.io/component=manager", "--tail=60", "--all-containers"},
		{"logs", "-n", namespace, "-l", "app.kubernetes.io/component=runtime", "--tail=60", "--all-containers"},
		{"logs", "-n", namespace, "-l", "app=links-toolset", "--tail=60"},
	} {
		out, err := in.kubectl(args...)
		t.Logf("$ kubectl %s (%v)\n%s", strings.Join(args, " "), err, out)
	}
}

func (in *install) kubectl(args ...string) (string, error) {
	bin, err := controlplane.Binaries()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), args...)
	cmd.Env = append(os.Environ(), in.kube...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// buildImages builds the manager, runtime and links-toolset images as
// `make images` does, for this machine's platform only, and returns their
// tarballs.
func (in *install) buildImages(t *testing.T) []string {
	t.Helper()
	out := filepath.Join(in.dir, "images")
	names := []string{"manager", "runtime", "links-toolset"}
	var targets, tars []string
	for _, name := range names {
		targets = append(targets, name+"=./cmd/"+name)
		tars = append(tars, filepath.Join(out, name+".tar"))
	}
	if err := cluster.BuildImages(context.Background(), out, registry, in.version, targets...); err != nil {
		t.Fatal(err)
	}
	return tars
}

func (in *install) prerequisites(t *testing.T) {
	ctx := context.Background()
	dirs, err := controlplane.CRDDirectories()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(in.c.Client.Scheme()); err != nil {
		t.Fatal(err)
	}
	// Gateway API's and cert-manager's CRDs, not ours: the chart installs those.
	if _, err := envtest.InstallCRDs(in.c.Config, envtest.CRDInstallOptions{Paths: dirs[1:], ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	certs, err := edge.StartCertManager(ctx, in.c.Client, in.c.Kubeconfig, filepath.Join(in.c.LogDir, "cert-manager.log"))
	if err != nil {
		t.Fatal(err)
	}
	in.t.Cleanup(certs.Stop)
	in.certs = certs
	if in.caPEM, err = edge.LocalCA(ctx, in.c.Client, caName, certs); err != nil {
		t.Fatal(err)
	}
	in.caFile = filepath.Join(in.dir, "ca.crt")
	if err := os.WriteFile(in.caFile, in.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := in.c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}
	in.password = rand.Text()[:16]
	if err := in.c.Client.Create(ctx, fixtures.UsersSecretIn(namespace, usersSecret, fixtures.User(user, in.password))); err != nil {
		t.Fatal(err)
	}
}

// helmInstall installs the chart as docs/install.md says, with the images
// imported into the node (pullPolicy Never: nothing may be pulled).
func (in *install) helmInstall(t *testing.T) {
	ctx := context.Background()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	in.port = port
	values := fmt.Sprintf(`platform:
  mcpDomain: %s
  gatewayHost: %s
  publicPort: %d
  gatewayRefs:
    - {name: mcp-gateway, namespace: gateway-system, sectionName: https}
  tls:
    issuerRef: {name: %s}
  sharedGateway: {enabled: true}
  signIn: {staticUsersSecret: %s}
  # The load below comes from one address and measures the install, not
  # the limits (runtime/ratelimit has their tests).
  rateLimits: {mcpPerGrant: {requestsPerMinute: 0}, mcpPerHandle: {requestsPerMinute: 0}, registration: {requestsPerMinute: 0},
    signIn: {requestsPerMinute: 0}, token: {requestsPerMinute: 0}}
operator:
  image: {pullPolicy: Never}
runtime:
  image: {pullPolicy: Never}
  # Port 80, so that the toolset's JWK Set URL http://gateway.localhost/...
  # carries the gateway host without a port.
  service: {port: 80}
`, mcpDomain, gatewayHost, port, caName, usersSecret)
	in.valuesFile = filepath.Join(in.dir, "values.yaml")
	if err := os.WriteFile(in.valuesFile, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	in.helm(t, "install", release, filepath.Join(in.root, "charts", "mcp-handle-operator"), "-n", namespace, "--values", in.valuesFile)
	for _, name := range []string{release + "-manager", release + "-runtime"} {
		in.waitDeploymentReady(t, name, 3*time.Minute)
		t.Logf("Deployment %s Ready %s after helm install", name, time.Since(start).Round(time.Millisecond))
	}
	// The leader holds the Lease, from inside its pod.
	lease := &coordinationv1.Lease{}
	waitfor.Eventually(t, time.Minute, "the operator's Lease", func() error {
		if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "mcp-handle-operator.mcp.10x.in"}, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || !strings.HasPrefix(*lease.Spec.HolderIdentity, release+"-manager-") {
			return fmt.Errorf("holder %v", lease.Spec.HolderIdentity)
		}
		return nil
	})
	t.Logf("Lease held by %s", *lease.Spec.HolderIdentity)
	cm := &corev1.ConfigMap{}
	if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: release + "-platform"}, cm); err != nil {
		t.Fatal(err)
	}
	if in.platform, err = platform.Parse([]byte(cm.Data["platform.yaml"])); err != nil {
		t.Fatal(err)
	}
}

// gateway starts Traefik on loopback with the platform's Gateway, applies
// the samples (kubectl apply -k config/samples, as the README says) and
// waits until the issuer answers with the CA's certificate.
func (in *install) gateway(t *testing.T) {
	ctx := context.Background()
	tr, err := edge.StartTraefik(ctx, in.c.Client, edge.TraefikOptions{Kubeconfig: in.c.Kubeconfig, Platform: in.platform,
		LogPath: filepath.Join(in.c.LogDir, "traefik.log"), Args: []string{"--log.level=DEBUG"}})
	if err != nil {
		t.Fatal(err)
	}
	in.t.Cleanup(tr.Stop)
	in.traefik = tr
	// The Gateway lives in its own namespace: its listener may read the
	// certificate Secret of the platform namespace only with a
	// ReferenceGrant there (docs/install.md).
	grant := &gatewayv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Name: "gateway-certificate", Namespace: namespace},
		Spec: gatewayv1.ReferenceGrantSpec{
			From: []gatewayv1.ReferenceGrantFrom{{Group: gatewayv1.GroupName, Kind: "Gateway", Namespace: "gateway-system"}},
			To:   []gatewayv1.ReferenceGrantTo{{Group: "", Kind: "Secret", Name: ptr.To(gatewayv1.ObjectName(in.platform.TLS.SecretName))}},
		}}
	if err := in.c.Client.Create(ctx, grant); err != nil {
		t.Fatal(err)
	}
	if out, err := in.kubectl("apply", "-k", filepath.Join(in.root, "config", "samples")); err != nil {
		t.Fatalf("kubectl apply -k config/samples: %v\n%s", err, out)
	}
	if err := tr.WaitProgrammed(ctx, in.c.Client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	hc := in.httpClient(t)
	waitfor.Eventually(t, time.Minute, "the issuer through the Gateway", func() error {
		resp, err := hc.Get(in.platform.Issuer + "/.well-known/oauth-authorization-server") //nolint:noctx
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// sdkClient deploys the Links toolset as a pod behind a Service, points the
// sample Toolset at it and runs the official SDK client (test/clients
// mcp-client.mjs: Client and StreamableHTTPClientTransport with an
// OAuthClientProvider, the SDK's default flow) on acme's hosted URL through
// Traefik.
func (in *install) sdkClient(t *testing.T) {
	ctx := context.Background()
	linksURL := in.deployLinks(t)
	patch := fmt.Sprintf(`{"spec":{"url":%q}}`, linksURL)
	if err := in.c.Client.Patch(ctx, &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: "links"}},
		client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	waitfor.Eventually(t, time.Minute, "the Links toolset Reachable", func() error {
		ts := &mcpv1alpha1.Toolset{}
		if err := in.c.Client.Get(ctx, types.NamespacedName{Name: "links"}, ts); err != nil {
			return err
		}
		for _, c := range ts.Status.Conditions {
			if c.Type == mcpv1alpha1.ToolsetConditionReachable && c.Status == metav1.ConditionTrue && ts.Status.ObservedGeneration == ts.Generation {
				return nil
			}
		}
		return fmt.Errorf("status %+v", ts.Status)
	})
	node, err := controlplane.Tool("NODE", "node.sh")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal([]map[string]any{{"serverUrl": in.platform.HostedURL(handle), "handle": handle,
		"readTool":  map[string]any{"name": "links_list_links", "arguments": map[string]any{}},
		"writeTool": map[string]any{"name": "links_create_link", "arguments": map[string]any{"path": "/cluster", "target": "https://example.com/cluster"}}}})
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "mcp-client.mjs")
	cmd.Dir = filepath.Join(in.root, "test", "clients")
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+in.caFile, "NO_COLOR=1", "MCP_FLOWS="+string(spec),
		"MCP_EMAIL="+user, "MCP_PASSWORD="+in.password, "MCP_REDIRECT_URL=https://chatgpt.com/connector/oauth/cb_0123456789abcdef")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mcp-client.mjs: %v\n--- stdout\n%s\n--- stderr\n%s", err, stdout.String(), stderr.String())
	}
	var result struct {
		Flows []struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
			Read struct {
				IsError bool `json:"isError"`
				Content []struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"read"`
		} `json:"flows"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &result); err != nil || len(result.Flows) != 1 {
		t.Fatalf("mcp-client.mjs printed (%v):\n%s", err, stdout.String())
	}
	f := result.Flows[0]
	if f.Read.IsError || len(f.Read.Content) != 1 || f.Read.Content[0].Text != handle+" has no links." {
		t.Errorf("links_list_links through the Gateway and the pods: %+v", f.Read)
	}
	t.Logf("the SDK client: OAuth, %d tools, links_list_links answered %q in %s", len(f.Tools), f.Read.Content, time.Since(start).Round(time.Millisecond))
}

// deployLinks runs the example Links toolset image as a Deployment behind a
// Service and returns its MCP URL (the Service's clusterIP: the node has no
// cluster DNS). Inside its pod gateway.localhost names the runtime Service,
// where it fetches the JWK Set of the runtime's tokens.
func (in *install) deployLinks(t *testing.T) string {
	ctx := context.Background()
	labels := map[string]string{"app": "links-toolset"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "links-toolset", Namespace: namespace},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)}}}}
	if err := in.c.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	runtimeSvc := &corev1.Service{}
	if err := in.c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: release + "-runtime"}, runtimeSvc); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:8080/mcp", svc.Spec.ClusterIP)
	nonRoot := true
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "links-toolset", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				HostAliases: []corev1.HostAlias{{IP: runtimeSvc.Spec.ClusterIP, Hostnames: []string{gatewayHost}}},
				Containers: []corev1.Container{{
					Name: "links", Image: registry + "/links-toolset:" + in.version, ImagePullPolicy: corev1.PullNever,
					Args: []string{"--listen=:8080", "--issuer=" + in.platform.Issuer, "--audience=" + url,
						"--jwks-url=http://" + gatewayHost + platform.JWKSPath},
					Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					ReadinessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 2},
					SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &nonRoot},
				}},
			}},
		}}
	if err := in.c.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	in.waitDeploymentReady(t, "links-toolset", 2*time.Minute)
	return url
}

func (in *install) helm(t *testing.T, args ...string) {
	t.Helper()
	bin, err := controlplane.Tool("HELM", "build-helm.sh")
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(in.dir, "helm-home")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	cmd.Env = append(cmd.Env, in.kube...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitDeploymentReady waits until every replica of a Deployment's current
// template is updated and Ready (the pods' readiness probes pass).
func (in *install) waitDeploymentReady(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	waitfor.Eventually(t, timeout, "Deployment "+name+" Ready", func() error {
		d := &appsv1.Deployment{}
		if err := in.c.Client.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: name}, d); err != nil {
			return err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		if s.ObservedGeneration != d.Generation || s.UpdatedReplicas != want || s.ReadyReplicas != want || s.Replicas != want {
			return fmt.Errorf("generation %d observed %d, replicas %d updated %d ready %d (want %d)", d.Generation, s.ObservedGeneration,
				s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, want)
		}
		return nil
	})
}

// httpClient reaches the Gateway on loopback for any host, trusting only the
// local CA.
func (in *install) httpClient(t *testing.T) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(in.caPEM) {
		t.Fatal("the CA does not parse")
	}
	return edge.Dialer(in.traefik.Addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// chartAppVersion is the chart's appVersion: the tag of the images it names.
func chartAppVersion(t *testing.T, root string) string {
	b, err := os.ReadFile(filepath.Join(root, "charts", "mcp-handle-operator", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "appVersion:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	t.Fatal("Chart.yaml has no appVersion")
	return ""
}

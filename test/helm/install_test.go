package helm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// TestInstall installs, upgrades, uninstalls and reinstalls the chart with
// the Helm CLI against a real apiserver that has Gateway API's and
// cert-manager's CRDs but not ours, so the chart installs them. No kubelet
// runs: the apiserver accepts the objects, pods are not started.
func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := controlplane.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := controlplane.CRDDirectories()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     dirs[1:], // Gateway API, cert-manager; not config/crd/bases
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme.New(),
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	_ = apiextensionsv1.AddToScheme(env.Scheme)
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "helm-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	kube := []string{"KUBECONFIG=" + kubeconfig}
	ctx := context.Background()
	run := func(args ...string) string {
		t.Helper()
		start := time.Now()
		out, err := helm(t, kube, args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("helm %s: %s", args[0], time.Since(start).Round(time.Millisecond))
		return string(out)
	}
	values := valuesFile("defaults")

	// A bad value fails the install itself, naming the value, and installs nothing.
	if _, err := helm(t, kube, "install", release, chartDir(), "-n", namespace, "--create-namespace",
		"--values", values, "--set", "platform.tls.mode=single"); err == nil || !strings.Contains(err.Error(), "/platform/tls/mode") {
		t.Fatalf("helm install with tls.mode=single: %v; want an error naming /platform/tls/mode", err)
	}

	run("install", release, chartDir(), "-n", namespace, "--create-namespace", "--values", values)
	crds := []string{"handles.mcp.10x.in", "oauthclients.mcp.10x.in", "toolsets.mcp.10x.in", "connections.mcp.10x.in"}
	for _, name := range crds {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
			t.Fatalf("CRD %s not installed: %v", name, err)
		}
	}
	for _, name := range []string{release + "-manager", release + "-runtime"} {
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &appsv1.Deployment{}); err != nil {
			t.Errorf("Deployment %s: %v", name, err)
		}
	}
	// The CRDs serve: a Handle is accepted once they are established.
	waitfor.Eventually(t, 30*time.Second, "the Handle CRD serves", func() error {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("mcp.10x.in/v1alpha1")
		l.SetKind("HandleList")
		return c.List(ctx, l)
	})

	// What the runtime creates at its first start: the chart never renders
	// it, so it outlives upgrades and uninstalls.
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "mcp-runtime-signing-keys"}, Data: map[string][]byte{"k1": []byte("0123456789abcdef0123456789abcdef")}}
	if err := c.Create(ctx, keys); err != nil {
		t.Fatal(err)
	}

	run("upgrade", release, chartDir(), "-n", namespace, "--values", values, "--set", "runtime.replicas=3")
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: release + "-runtime"}, dep); err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 3 {
		t.Errorf("after the upgrade the runtime has %d replicas, want 3", *dep.Spec.Replicas)
	}

	run("uninstall", release, "-n", namespace)
	for _, name := range crds {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil || crd.DeletionTimestamp != nil {
			t.Errorf("CRD %s is not kept by helm uninstall: %v", name, err)
		}
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(keys), &corev1.Secret{}); err != nil {
		t.Errorf("the signing keys did not survive helm uninstall: %v", err)
	}
	for _, name := range []string{release + "-manager", release + "-runtime"} {
		err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &appsv1.Deployment{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("Deployment %s after uninstall: %v, want not found", name, err)
		}
	}

	// Installing again under the same name adopts the kept CRDs.
	run("install", release, chartDir(), "-n", namespace, "--values", values)
	// A second release that leaves the CRDs to the first.
	run("install", "second", chartDir(), "-n", "mcp-second", "--create-namespace", "--values", values, "--set", "crds.install=false")
	list := run("list", "-A", "-q")
	if !strings.Contains(list, release) || !strings.Contains(list, "second") {
		t.Errorf("helm list: %q", list)
	}
}

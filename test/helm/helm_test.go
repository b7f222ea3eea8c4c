// Package helm tests the Helm chart charts/mcp-handle-operator and the
// kustomize install of config/default with the Helm CLI built from its Go
// module (hack/build-helm.sh, or HELM) and kubectl of the test control plane.
package helm

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

const (
	release   = "mcp-handle-operator"
	namespace = "mcp-system"
)

// valueSets are the golden cases: testdata/<name>.yaml rendered into
// testdata/golden/<name>.yaml.
var valueSets = []string{"defaults", "perhandle-oidc", "no-crds-netpol-monitor"}

func root() string { return controlplane.RepoRoot() }

func chartDir() string { return filepath.Join(root(), "charts", "mcp-handle-operator") }

var helmPath = sync.OnceValues(func() (string, error) { return controlplane.Tool("HELM", "build-helm.sh") })

// helm runs the Helm CLI and returns its standard output, or an error that
// carries its standard error.
func helm(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := helmPath()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	// A private Helm home: no repositories, plugins or caches of the machine.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data")
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// template renders the chart with the given values files and --set flags.
func template(t *testing.T, releaseName string, values []string, set ...string) ([]byte, error) {
	t.Helper()
	args := []string{"template", releaseName, chartDir(), "--namespace", namespace}
	for _, v := range values {
		args = append(args, "--values", v)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return helm(t, nil, args...)
}

func valuesFile(name string) string { return filepath.Join("testdata", name+".yaml") }

// mustRender renders one value set and decodes its objects.
func mustRender(t *testing.T, name string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := template(t, release, []string{valuesFile(name)}, set...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding the rendered manifests: %v", err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func mustFind(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := find(objs, kind, name)
	if o == nil {
		t.Fatalf("no %s %s in the rendered chart; have %s", kind, name, names(objs))
	}
	return o
}

func names(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, ", ")
}

func TestLint(t *testing.T) {
	for _, name := range valueSets {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, nil, "lint", "--strict", chartDir(), "--namespace", namespace, "--values", valuesFile(name))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestGolden compares `helm template` of each value set with its golden
// file. CRDs are reduced to their metadata there (TestCRDs checks their
// content against config/crd/bases), so API changes do not touch the golden
// files. Regenerate with `make chart-golden`.
func TestGolden(t *testing.T) {
	for _, name := range valueSets {
		t.Run(name, func(t *testing.T) {
			out, err := template(t, release, []string{valuesFile(name)})
			if err != nil {
				t.Fatal(err)
			}
			got := stripCRDBodies(t, out)
			path := filepath.Join("testdata", "golden", name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run make chart-golden)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("helm template with %s differs from %s (run make chart-golden and review the diff):\n%s",
					valuesFile(name), path, firstDifference(string(want), string(got)))
			}
		})
	}
}

var documentSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// stripCRDBodies replaces each CustomResourceDefinition of a rendered chart
// by its apiVersion, kind and metadata.
func stripCRDBodies(t *testing.T, rendered []byte) []byte {
	t.Helper()
	docs := documentSeparator.Split(string(rendered), -1)
	var b strings.Builder
	for _, doc := range docs {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		if strings.Contains(doc, "\nkind: CustomResourceDefinition\n") {
			var crd map[string]any
			if err := yaml.Unmarshal([]byte(doc), &crd); err != nil {
				t.Fatal(err)
			}
			short, err := yaml.Marshal(map[string]any{"apiVersion": crd["apiVersion"], "kind": crd["kind"], "metadata": crd["metadata"]})
			if err != nil {
				t.Fatal(err)
			}
			doc = "\n# spec: config/crd/bases (checked by TestCRDs)\n" + string(short)
		}
		b.WriteString("---")
		if !strings.HasPrefix(doc, "\n") {
			b.WriteString("\n")
		}
		b.WriteString(strings.TrimRight(doc, "\n") + "\n")
	}
	return []byte(b.String())
}

func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  golden:   %q\n  rendered: %q", i+1, wl, gl)
		}
	}
	return "(no line differs)"
}

// TestCRDs checks that the chart installs exactly the generated CRDs, with
// the keep policy by default, without it when crds.keep=false, and none
// when crds.install=false.
func TestCRDs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no generated CRDs: %v", err)
	}
	objs := mustRender(t, "defaults")
	var rendered int
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			rendered++
			if got := o.GetAnnotations()["helm.sh/resource-policy"]; got != "keep" {
				t.Errorf("CRD %s: helm.sh/resource-policy %q, want keep", o.GetName(), got)
			}
		}
	}
	if rendered != len(files) {
		t.Errorf("the chart renders %d CRDs, config/crd/bases has %d", rendered, len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := decode(t, data)[0]
		got := find(objs, "CustomResourceDefinition", want.GetName())
		if got == nil {
			t.Errorf("the chart does not install %s (%s)", want.GetName(), filepath.Base(f))
			continue
		}
		if diff := compareYAML(want.Object["spec"], got.Object["spec"]); diff != "" {
			t.Errorf("CRD %s differs from %s (run make manifests): %s", want.GetName(), filepath.Base(f), diff)
		}
		for k, v := range want.GetAnnotations() {
			if got.GetAnnotations()[k] != v {
				t.Errorf("CRD %s: annotation %s=%q, want %q", want.GetName(), k, got.GetAnnotations()[k], v)
			}
		}
	}
	for _, o := range mustRender(t, "defaults", "crds.keep=false") {
		if _, ok := o.GetAnnotations()["helm.sh/resource-policy"]; ok && o.GetKind() == "CustomResourceDefinition" {
			t.Errorf("crds.keep=false: CRD %s still has the keep policy", o.GetName())
		}
	}
	for _, o := range mustRender(t, "defaults", "crds.install=false") {
		if o.GetKind() == "CustomResourceDefinition" {
			t.Errorf("crds.install=false renders CRD %s", o.GetName())
		}
	}
}

func compareYAML(want, got any) string {
	w, _ := yaml.Marshal(want)
	g, _ := yaml.Marshal(got)
	if bytes.Equal(w, g) {
		return ""
	}
	return firstDifference(string(w), string(g))
}

package helm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

// TestKustomizeMatchesChart builds config/default with the kubectl of the
// test control plane (kubectl kustomize) and checks that it holds the same
// objects as the chart installed as release "mcp" in mcp-system with the
// platform configuration of config/default/platform.yaml: same kinds,
// names, namespaces and content, apart from labels and annotations (Helm's
// and the CRDs' keep policy), the ConfigMap's hash suffix and the chart's
// checksum annotation.
func TestKustomizeMatchesChart(t *testing.T) {
	assets, err := controlplane.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", filepath.Join(root(), "config", "default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	built, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v: %s", err, stderr.String())
	}

	data, err := os.ReadFile(filepath.Join(root(), "config", "default", "platform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	delete(p, "runtimeService") // the chart fills it in
	values, err := yaml.Marshal(map[string]any{"platform": p})
	if err != nil {
		t.Fatal(err)
	}
	valuesPath := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(valuesPath, values, 0o600); err != nil {
		t.Fatal(err)
	}
	rendered, err := template(t, "mcp", []string{valuesPath})
	if err != nil {
		t.Fatal(err)
	}

	fromKustomize := index(t, decode(t, built))
	fromChart := index(t, decode(t, rendered))
	delete(fromKustomize, "Namespace//mcp-system") // helm install --create-namespace makes it
	for key, want := range fromChart {
		got, ok := fromKustomize[key]
		if !ok {
			t.Errorf("config/default lacks %s, which the chart renders", key)
			continue
		}
		if want.GetKind() == "ConfigMap" {
			comparePlatform(t, key, want, got)
			continue
		}
		if diff := compareYAML(want.Object, got.Object); diff != "" {
			t.Errorf("%s differs between the chart and config/default (golden: the chart, rendered: kustomize): %s", key, diff)
		}
	}
	for key := range fromKustomize {
		if _, ok := fromChart[key]; !ok {
			t.Errorf("config/default has %s, which the chart does not render", key)
		}
	}
}

var hashSuffix = regexp.MustCompile(`^(mcp-platform)-[a-z0-9]{10}$`)

// index keys objects by kind/namespace/name after removing what may differ.
func index(t *testing.T, objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		o.SetLabels(nil)
		o.SetAnnotations(nil)
		if o.GetKind() == "ConfigMap" {
			o.SetName(hashSuffix.ReplaceAllString(o.GetName(), "$1"))
		}
		if o.GetKind() == "Deployment" {
			unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations")
			vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				if cm, ok := v.(map[string]any)["configMap"].(map[string]any); ok {
					cm["name"] = hashSuffix.ReplaceAllString(cm["name"].(string), "$1")
				}
			}
			_ = unstructured.SetNestedSlice(o.Object, vols, "spec", "template", "spec", "volumes")
		}
		key := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		if _, dup := out[key]; dup {
			t.Fatalf("%s twice", key)
		}
		out[key] = o
	}
	return out
}

// comparePlatform compares the platform configurations as the binaries read them.
func comparePlatform(t *testing.T, key string, chart, kustomize *unstructured.Unstructured) {
	t.Helper()
	parse := func(o *unstructured.Unstructured) *platform.Config {
		doc, _, _ := unstructured.NestedString(o.Object, "data", "platform.yaml")
		cfg, err := platform.Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if err := cfg.RequireSignIn(); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		// Unset and true mean the same.
		enabled := cfg.ClientIDMetadataDocumentsEnabled()
		cfg.ClientIDMetadataDocuments.Enabled = &enabled
		return cfg
	}
	if want, got := parse(chart), parse(kustomize); !reflect.DeepEqual(want, got) {
		t.Errorf("%s: the platform configurations differ:\nchart:     %+v\nkustomize: %+v", key, want, got)
	}
}

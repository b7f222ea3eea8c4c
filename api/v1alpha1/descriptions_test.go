package v1alpha1_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

// TestEveryFieldDescribed keeps `kubectl explain` useful: every field of every
// generated CRD carries a description from its Go comment. Object metadata is
// left out: kubectl explains it from the apiserver's own ObjectMeta schema.
func TestEveryFieldDescribed(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(controlplane.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if len(files) != 4 {
		t.Fatalf("found %d CRDs in config/crd/bases, want 4", len(files))
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		for _, v := range crd.Spec.Versions {
			var missing []string
			walk(v.Schema.OpenAPIV3Schema, crd.Spec.Names.Kind, &missing)
			sort.Strings(missing)
			for _, m := range missing {
				t.Errorf("%s: %s has no description", filepath.Base(file), m)
			}
		}
	}
}

func walk(s *apiextensionsv1.JSONSchemaProps, path string, missing *[]string) {
	if s == nil {
		return
	}
	if s.Description == "" {
		*missing = append(*missing, path)
	}
	for name, p := range s.Properties {
		if name == "metadata" && !strings.Contains(path, ".") {
			continue
		}
		walk(&p, path+"."+name, missing)
	}
	if s.Items != nil && s.Items.Schema != nil && s.Items.Schema.Type == "object" {
		walk(s.Items.Schema, path+"[]", missing)
	}
}

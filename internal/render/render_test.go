package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// TestGolden renders config/samples under the sample platform configuration
// in both TLS modes and compares with testdata/*.golden.yaml. Run
// `go test ./internal/render -update` after an intended change.
func TestGolden(t *testing.T) {
	samples, err := filepath.Glob("../../config/samples/mcp_*.yaml")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	var docs bytes.Buffer
	for _, f := range samples {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
		docs.WriteString("\n---\n")
	}
	for _, mode := range []string{platform.TLSModeWildcard, platform.TLSModePerHandle} {
		t.Run(mode, func(t *testing.T) {
			cfg, err := platform.Load("../../config/platform/platform.yaml")
			if err != nil {
				t.Fatal(err)
			}
			cfg.TLS.Mode = mode
			// Make the sample client confidential so its Secret shows.
			in := strings.Replace(docs.String(), "tokenEndpointAuthMethod: none", "tokenEndpointAuthMethod: client_secret_basic", 1)
			var out bytes.Buffer
			if err := Manifests(cfg, strings.NewReader(in), &out); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", mode+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("rendered output differs from %s (run with -update after an intended change):\n%s", golden, out.String())
			}
		})
	}
}

func TestManifestsRefusesForeignKinds(t *testing.T) {
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n":                                "v1 ConfigMap: not a mcp.10x.in/v1alpha1 object",
		"apiVersion: mcp.10x.in/v1alpha1\nkind: Widget\nmetadata: {name: x}\n":                  "unknown kind Widget",
		"apiVersion: mcp.10x.in/v1alpha1\nkind: Handle\nmetadata: {name: x}\nspec: {typo: 1}\n": `unknown field "typo"`,
	} {
		err := Manifests(cfg, strings.NewReader(in), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want %q", err, want)
		}
	}
}

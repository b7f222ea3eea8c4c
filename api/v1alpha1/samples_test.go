package v1alpha1_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

// TestSamplesApply applies every manifest of config/samples to the real
// apiserver with server-side apply, as a user of the samples would.
func TestSamplesApply(t *testing.T) {
	files, err := controlplane.SampleFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		objs, err := controlplane.ApplyFile(context.Background(), env.Client, file, "samples-test")
		if err != nil {
			t.Error(err)
		}
		if len(objs) == 0 {
			t.Errorf("%s holds no object", filepath.Base(file))
		}
		for _, obj := range objs {
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
		}
	}
}

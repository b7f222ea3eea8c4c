package v1alpha1_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/10xdotin/mcp-handle-operator/internal/controlplane"
)

// env is one real apiserver shared by every test of this package.
var env *controlplane.Env

func TestMain(m *testing.M) {
	var err error
	env, err = controlplane.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "failed to stop the test control plane:", err)
	}
	os.Exit(code)
}

package v1alpha1_test

import (
	"os"
	"testing"

	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

// env is one real apiserver shared by every test of this package.
var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunSuite(m, &env)) }

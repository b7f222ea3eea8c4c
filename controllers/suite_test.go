package controllers_test

import (
	"context"
	"errors"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/10xdotin/mcp-handle-operator/controllers"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

// env is one real apiserver, with kube-controller-manager's garbage
// collector, shared by every test of this package. Tests run one at a time,
// each with its own operator and its own handle names.
var env *controlplane.Env

const namespace = "mcp-system"

func TestMain(m *testing.M) {
	var stopGC func()
	code := controlplane.RunSuite(m, &env, func(e *controlplane.Env) error {
		var err error
		if stopGC, err = e.StartGarbageCollector(); err != nil {
			return err
		}
		for _, ns := range []string{namespace, "team-a"} {
			if err := e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return err
			}
		}
		return nil
	})
	if stopGC != nil {
		stopGC()
	}
	os.Exit(code)
}

// platformConfig returns the samples' configuration with edits applied.
func platformConfig(t *testing.T, edits ...func(*platform.Config)) *platform.Config {
	t.Helper()
	cfg, err := platform.Load("../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		e(cfg)
	}
	return cfg
}

// startOperator runs the operator's manager until the test ends.
func startOperator(t *testing.T, cfg *platform.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := controllers.NewManager(ctx, env.Config, cfg, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("operator stopped with an error: %v", err)
		}
	})
}

// toYAML renders an object for failure messages.
func toYAML(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// stillThere is the retry error of a wait for a deletion: the object was
// found, or reading it failed.
func stillThere(err error) error {
	if err == nil {
		return errors.New("still there")
	}
	return err
}

package helm

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestTracing: runtime.tracing.otlpEndpoint reaches the runtime as
// OTEL_EXPORTER_OTLP_ENDPOINT, and by default the runtime has no
// environment (tracing off).
func TestTracing(t *testing.T) {
	env := func(set ...string) []corev1.EnvVar {
		rt := convert[appsv1.Deployment](t, mustFind(t, mustRender(t, "defaults", set...), "Deployment", release+"-runtime"))
		return rt.Spec.Template.Spec.Containers[0].Env
	}
	if got := env(); len(got) != 0 {
		t.Errorf("the default runtime has the environment %v", got)
	}
	const endpoint = "http://otel-collector.monitoring:4318"
	if got := env("runtime.tracing.otlpEndpoint=" + endpoint); !slices.Contains(got, corev1.EnvVar{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: endpoint}) {
		t.Errorf("the runtime's environment %v lacks OTEL_EXPORTER_OTLP_ENDPOINT=%s", got, endpoint)
	}
	if _, err := template(t, release, []string{valuesFile("defaults")}, "runtime.tracing.otlpEndpoint=otel-collector:4318"); err == nil {
		t.Error("an endpoint without a scheme is accepted")
	}
}

// Package testoperator runs the operator's binary as a separate process
// against a control plane, with the platform configuration in perHandle TLS
// mode (the mode with the most objects per handle), and counts the handles
// it has finished. The load benchmark (test/perf/handles) and the fault tests
// (test/reliability/operator) share it. It is for tests only.
package testoperator

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/controllers"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
)

// WritePlatformConfig writes config/platform/platform.yaml with tls.mode set
// to perHandle into dir, and loads it back so a bad document fails here
// rather than in the operator.
func WritePlatformConfig(dir string) (string, *platform.Config, error) {
	c, err := fixtures.RepoPlatform()
	if err != nil {
		return "", nil, err
	}
	c.TLS.Mode = platform.TLSModePerHandle
	path := filepath.Join(dir, "platform.yaml")
	cfg, err := fixtures.WritePlatform(path, c)
	return path, cfg, err
}

// Start runs the manager binary bin with the platform configuration and the
// kubeconfig, without metrics or probe listeners (so replicas do not fight
// over ports), plus args; its output goes to logPath.
func Start(logPath, bin, configPath, kubeconfig string, args ...string) (*proc.Process, error) {
	return proc.Start(logPath, []string{"KUBECONFIG=" + kubeconfig}, bin, append([]string{
		"--platform-config=" + configPath,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
	}, args...)...)
}

// WaitStarted waits up to timeout for the platform HTTPRoute, the operator's
// first write after its caches have synced (with leader election: once a
// replica leads).
func WaitStarted(ctx context.Context, c client.Client, ns string, op *proc.Process, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "mcp-platform"}, &gatewayv1.HTTPRoute{})
		if err == nil {
			return nil
		}
		select {
		case <-op.Exited():
			return op.ExitErr("operator")
		case <-ctx.Done():
			return fmt.Errorf("failed to see the operator start within %s (last error: %w): see %s", timeout, err, op.LogPath)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// CreateAll creates the objects 0..n-1 that obj builds with w concurrent
// workers, stops at the first error, and returns the time from the first
// request to the last response.
func CreateAll(ctx context.Context, c client.Client, w, n int, obj func(int) client.Object) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range w {
		wg.Go(func() {
			for i := range next {
				o := obj(i)
				if err := c.Create(ctx, o); err != nil {
					cancel(fmt.Errorf("failed to create %s: %w", o.GetName(), err))
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return time.Since(start), context.Cause(ctx)
}

// CountConverged counts the handles whose status is current and Accepted and
// whose hosted HTTPRoute and Certificate exist, out of n expected. The
// routes and certificates are listed only once n statuses are done, to keep
// the polling light.
func CountConverged(ctx context.Context, c client.Client, ns string, n int) (int, error) {
	var handles mcpv1alpha1.HandleList
	if err := c.List(ctx, &handles); err != nil {
		return 0, fmt.Errorf("failed to list Handles: %w", err)
	}
	var accepted []string
	for i := range handles.Items {
		if h := &handles.Items[i]; StatusDone(h) {
			accepted = append(accepted, h.Name)
		}
	}
	if len(accepted) < n {
		return len(accepted), nil
	}
	routes, err := listNames(ctx, c, ns, schema.GroupVersion{Group: gatewayv1.GroupName, Version: "v1"}.WithKind("HTTPRouteList"), controllers.ComponentHosted)
	if err != nil {
		return 0, err
	}
	certs, err := listNames(ctx, c, ns, certmanagerv1.SchemeGroupVersion.WithKind("CertificateList"), controllers.ComponentCertificate)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, name := range accepted {
		if routes["handle-"+name] && certs["handle-"+name] {
			done++
		}
	}
	return done, nil
}

// StatusDone reports whether the operator's status of h is current and
// Accepted.
func StatusDone(h *mcpv1alpha1.Handle) bool {
	return h.Status.ObservedGeneration == h.Generation &&
		meta.IsStatusConditionTrue(h.Status.Conditions, mcpv1alpha1.HandleConditionAccepted)
}

// listNames returns the names of the objects of one component the operator
// wrote, listing metadata only.
func listNames(ctx context.Context, c client.Client, ns string, gvk schema.GroupVersionKind, component string) (map[string]bool, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk)
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{controllers.LabelComponent: component}); err != nil {
		return nil, fmt.Errorf("failed to list %s: %w", gvk.Kind, err)
	}
	names := make(map[string]bool, len(list.Items))
	for _, o := range list.Items {
		names[o.Name] = true
	}
	return names, nil
}

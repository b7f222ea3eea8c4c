package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/test/framework/cluster"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

const (
	registry = "test.invalid/mcp-handle-operator"
	version  = "cluster-test"
	ns       = "links"
)

// TestCluster starts the single-node cluster, runs the Links toolset's
// image in a Deployment with a readiness probe behind a ClusterIP Service,
// reaches the Service from this machine through kube-proxy, replaces a
// deleted pod, and checks that Stop leaves no bridge, network namespace,
// mount or KUBE-* chain behind. It prints how long each part took.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node: not under -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("a real node needs root")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	netnsBefore := cluster.NetnsLeft()
	// Host folders kubelet and containerd write to outside Dir.
	hostDirs := map[string]bool{}
	for _, d := range []string{"/var/lib/kubelet", "/var/lib/cni", "/var/log/containers", "/run/mcp-handle-operator-cluster"} {
		_, err := os.Stat(d)
		hostDirs[d] = err == nil
	}

	start := time.Now()
	if _, err := controlplane.Binaries(); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.NodeBinaries(); err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: binaries ready (built or cached) in %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	images := filepath.Join(dir, "images")
	if err := cluster.BuildImages(ctx, images, registry, version,
		"links-toolset=./cmd/links-toolset", "apicheck=./test/framework/cluster/apicheck"); err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: links-toolset and apicheck images built in %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	c, err := cluster.Start(ctx, cluster.Options{
		Dir:      filepath.Join(dir, "node"),
		Images:   []string{filepath.Join(images, "links-toolset.tar"), filepath.Join(images, "apicheck.tar")},
		Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			c.Stop()
		}
		if t.Failed() {
			t.Logf("logs kept in %s", c.LogDir)
		} else {
			_ = os.RemoveAll(dir)
		}
	})
	t.Logf("timing: Start returned, node Ready, after %s (including any wait for another cluster on this machine; the cluster: lines time the start itself)", time.Since(start).Round(time.Millisecond))

	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	dep, svc := deployment("links", "links-toolset", []string{"--listen=0.0.0.0:8080", "--issuer=https://issuer.test",
		"--jwks-url=http://127.0.0.1:1/jwks", "--audience=http://x/mcp"})
	start = time.Now()
	if err := c.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	first := waitReadyPod(ctx, t, c, "links", "")
	t.Logf("timing: Deployment created to pod %s Ready in %s (pod IP %s)", first.Name, time.Since(start).Round(time.Millisecond), first.Status.PodIP)
	if !strings.HasPrefix(first.Status.PodIP, "198.18.") {
		t.Errorf("pod IP %s is not in %s", first.Status.PodIP, cluster.PodCIDR)
	}

	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s/healthz", svc.Spec.ClusterIP)
	start = time.Now()
	waitGet(ctx, t, url)
	t.Logf("timing: ClusterIP %s answered from this machine %s after the pod was Ready", url, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if err := c.Client.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := waitReadyPod(ctx, t, c, "links", first.UID)
	t.Logf("timing: pod deleted to replacement %s Ready in %s", second.Name, time.Since(start).Round(time.Millisecond))
	waitGet(ctx, t, url)

	// From inside a pod: the apiserver through the kubernetes Service with
	// the pod's service-account token, and the links Service.
	check, checkSvc := deployment("apicheck", "apicheck", []string{"--listen=0.0.0.0:8080", "--get=" + url})
	start = time.Now()
	if err := c.Client.Create(ctx, checkSvc); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Create(ctx, check); err != nil {
		t.Fatal(err)
	}
	pod := waitReadyPod(ctx, t, c, "apicheck", "")
	t.Logf("timing: apicheck pod %s Ready (apiserver and the links Service reached from the pod) in %s", pod.Name, time.Since(start).Round(time.Millisecond))
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(checkSvc), checkSvc); err != nil {
		t.Fatal(err)
	}
	if who := waitGet(ctx, t, fmt.Sprintf("http://%s/healthz", checkSvc.Spec.ClusterIP)); !strings.Contains(who, "system:serviceaccount:"+ns+":default") {
		t.Errorf("the apiserver took the pod for %q, want its service account", who)
	}

	start = time.Now()
	c.Stop()
	stopped = true
	t.Logf("timing: Stop in %s", time.Since(start).Round(time.Millisecond))
	if cluster.LinkExists(cluster.BridgeName) {
		t.Errorf("the bridge %s is still there after Stop", cluster.BridgeName)
	}
	if chains := cluster.KubeChains(); len(chains) > 0 {
		t.Errorf("KUBE-* chains left after Stop: %v", chains)
	}
	if m := cluster.MountsUnder(dir); len(m) > 0 {
		t.Errorf("mounts left under %s after Stop: %v", dir, m)
	}
	for _, n := range cluster.NetnsLeft() {
		if !slices.Contains(netnsBefore, n) {
			t.Errorf("network namespace %s left after Stop", n)
		}
	}
	for d, existed := range hostDirs {
		if _, err := os.Stat(d); err == nil && !existed {
			t.Errorf("%s was created by the cluster and left after Stop", d)
		}
	}
	if procs := processesUnder(dir); len(procs) > 0 {
		t.Errorf("processes left after Stop: %v", procs)
	}
	// (This sandbox's network may answer any address itself, so only a 200
	// from the toolset counts.)
	hc := &http.Client{Timeout: 2 * time.Second}
	if resp, err := hc.Get(url); err == nil {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK && string(body) == "ok\n" {
			t.Errorf("%s still answers after Stop", url)
		}
	}
}

// deployment returns a one-replica Deployment name of the test image image
// with args and a readiness probe on /healthz, and a ClusterIP Service for it
// on port 80.
func deployment(name, image string, args []string) (*appsv1.Deployment, *corev1.Service) {
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](2),
					Containers: []corev1.Container{{
						Name:            name,
						Image:           registry + "/" + image + ":" + version,
						ImagePullPolicy: corev1.PullNever,
						Args:            args,
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
							PeriodSeconds: 1,
						},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             ptr.To(true),
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	return dep, svc
}

// waitReadyPod waits for a Ready pod of the Deployment app other than the
// one with UID not, and returns it.
func waitReadyPod(ctx context.Context, t *testing.T, c *cluster.Cluster, app string, not types.UID) *corev1.Pod {
	t.Helper()
	var ready *corev1.Pod
	err := waitfor.Poll(ctx, 2*time.Minute, "a Ready pod of "+app, func() error {
		pods := &corev1.PodList{}
		if err := c.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return err
		}
		last := ""
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.UID == not || p.DeletionTimestamp != nil {
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready = p
					return nil
				}
			}
			last += fmt.Sprintf(" %s %s %v", p.Name, p.Status.Phase, p.Status.ContainerStatuses)
			if p.Status.PodIP != "" {
				if resp, err := http.Get("http://" + p.Status.PodIP + ":8080/healthz"); err == nil {
					body, _ := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					last += fmt.Sprintf(" (/healthz: %s %s)", resp.Status, body)
				}
			}
		}
		return fmt.Errorf("pods:%s", last)
	})
	if err != nil {
		events := &corev1.EventList{}
		_ = c.Client.List(ctx, events, client.InNamespace(ns))
		for _, e := range events.Items {
			t.Logf("event: %s %s %s: %s", e.InvolvedObject.Name, e.Type, e.Reason, e.Message)
		}
		t.Fatal(err)
	}
	return ready
}

// waitGet waits until url answers 200 and returns the body.
func waitGet(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	// A new connection each time: a ClusterIP answers once kube-proxy has
	// programmed it, not on a connection made before.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var body string
	if err := waitfor.Poll(ctx, time.Minute, url+" answers 200", func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, b)
		}
		body = string(b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return body
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// processesUnder returns the command lines that mention dir.
func processesUnder(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(data), dir+"/") {
			found = append(found, strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
	return found
}

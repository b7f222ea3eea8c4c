// Command cluster runs the single-node test cluster of test/framework/cluster
// in the foreground (make cluster): etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd, kubelet and kube-proxy
// as its children, state and logs under .local/cluster. It writes the admin
// kubeconfig to .local/cluster/kubeconfig and tears everything down on Ctrl-C.
// Needs root.
//
//	go run ./hack/cluster [--dir .local/cluster] [IMAGE.tar ...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/10xdotin/mcp-handle-operator/test/framework/cluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", ".local/cluster", "folder of the cluster's state, logs and kubeconfig")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: cluster [--dir DIR] [IMAGE.tar ...]  (image tarballs to import, e.g. from hack/images)")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Dir: abs, Images: flag.Args(), Progress: os.Stderr})
	if err != nil {
		return err
	}
	rel := c.Kubeconfig
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, c.Kubeconfig); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	fmt.Printf(`
Node %s Ready in %s; the apiserver listens on https://%s:%d.
  KUBECONFIG=%s kubectl get nodes
  (kubectl: $(hack/build-controlplane.sh)/kubectl)
Pods are on %s (bridge %s), Services on %s. Import an image:
  $(hack/build-node.sh)/ctr --address %s -n k8s.io images import IMAGE.tar
Logs: %s
Ctrl-C stops the cluster and removes its pods, network and iptables chains.
`, cluster.NodeName, time.Since(start).Round(100*time.Millisecond), c.NodeIP, cluster.APIServerPort, rel,
		cluster.PodCIDR, cluster.BridgeName, cluster.ServiceCIDR, filepath.Join(abs, "containerd", "containerd.sock"), c.LogDir)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "cluster: stopping")
	c.Stop()
	fmt.Fprintln(os.Stderr, "cluster: stopped")
	return nil
}

// Package cluster starts a real single-node Kubernetes cluster on this
// machine, every piece a child process of the caller: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd (with Debian's runc and
// CNI plugins), kubelet and kube-proxy. Pods run from images imported into
// containerd (no registry, no Docker), on a bridge in 198.18.0.0/16 whose
// gateway is the node's address; Services get ClusterIPs in 198.19.0.0/24
// that kube-proxy programs with iptables. Everything stays on this machine.
//
// It needs root (network namespaces, a bridge, iptables, mounts). One cluster
// runs on a machine at a time: Start waits for a lock that the previous
// cluster's Stop (or the end of its process) releases.
//
// The binaries come from hack/build-controlplane.sh (KUBEBUILDER_ASSETS) and
// hack/build-node.sh (KUBE_NODE_ASSETS), which build them on first use; the
// pod sandbox image is ./pause, built with hack/images.
// docs/development.md ("A real node") explains the settings.
package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
)

// The cluster's fixed addresses, all in the RFC 2544 benchmark range
// 198.18.0.0/15 so that they cannot collide with anything real.
const (
	// NodeIP is the bridge's gateway address: pods and this machine both
	// reach it; the apiserver, kubelet and kube-proxy listen on it.
	NodeIP = "198.18.0.1"
	// PodCIDR is the pods' range, on the bridge.
	PodCIDR = "198.18.0.0/16"
	// ServiceCIDR is the Services' range (ClusterIPs).
	ServiceCIDR = "198.19.0.0/24"
	// KubernetesServiceIP is the ClusterIP of the default/kubernetes Service.
	KubernetesServiceIP = "198.19.0.1"
	// APIServerPort is the apiserver's port on NodeIP.
	APIServerPort = 6443
	// BridgeName is the pods' bridge.
	BridgeName = "mcpbr0"
	// NodeName is the name of the one Node.
	NodeName = "mcp-node"
	// CNIBinDir holds Debian's CNI plugins (hack/node-packages.sh).
	CNIBinDir = "/usr/lib/cni"
	// PauseImage is the pod sandbox image, imported on start.
	PauseImage = pauseRegistry + "/pause:" + pauseVersion

	pauseRegistry      = "test.invalid/mcp-handle-operator"
	pauseVersion       = "1"
	kubeletPort        = 10250
	kubeletHealthzPort = 10248
	// lockPath serializes clusters on this machine: they share fixed
	// addresses, ports and iptables chains.
	lockPath = "/run/mcp-handle-operator-cluster.lock"
	// statePath holds what Stop restores on the machine: kernel settings
	// ("sysctl PATH VALUE") and host folders to remove ("absent DIR").
	statePath = "/run/mcp-handle-operator-cluster.state"
)

// Options of Start.
type Options struct {
	// Dir holds the cluster's state, logs and kubeconfig; it is created
	// when missing. Stop leaves the logs and the kubeconfig there.
	Dir string
	// Images are image tarballs (docker save or OCI archives, as hack/images
	// writes them) to import into containerd before the node starts.
	Images []string
	// Progress receives a line per step of Start (nil: none).
	Progress io.Writer
}

// Cluster is a running single-node cluster.
type Cluster struct {
	// Kubeconfig is the path of a cluster-admin kubeconfig.
	Kubeconfig string
	// Config reaches the apiserver as cluster admin.
	Config *rest.Config
	// Client is a controller-runtime client with the project's scheme.
	Client client.Client
	// NodeIP is the bridge's gateway address (NodeIP); the apiserver
	// listens there, and pods and this machine both reach it.
	NodeIP string
	// LogDir holds one log file per process.
	LogDir string

	dir      string
	bins     string // control plane binaries
	nodeBins string // node binaries
	socket   string // containerd's socket
	progress io.Writer
	lock     *os.File
	procs    []*namedProc
	sysctls  map[string]string // values to restore
	netns    map[string]bool   // /var/run/netns entries that existed before
	// hostDirs are the folders outside Dir that kubelet and containerd
	// write to whatever their configuration says, and whether each existed
	// before Start; hostEntries the entries they held then.
	hostDirs    map[string]bool
	hostEntries map[string]bool
	prevDir     string // the folder of the cluster that held the lock before
	network     bool   // hostNetwork ran: Stop restores sysctls
}

type namedProc struct {
	name string
	*proc.Process
}

// Start starts a cluster and returns once its node is Ready and the default
// namespace's service account exists. On error everything started is torn
// down again.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("a cluster needs root (network namespaces, a bridge, iptables, mounts)")
	}
	if o.Dir == "" {
		return nil, errors.New("cluster.Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
		NodeIP:     NodeIP,
		LogDir:     filepath.Join(dir, "logs"),
		dir:        dir,
		socket:     filepath.Join(dir, "containerd", "containerd.sock"),
		progress:   o.Progress,
		sysctls:    map[string]string{},
	}
	if c.progress == nil {
		c.progress = io.Discard
	}
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return nil, err
	}
	if err := c.acquireLock(ctx); err != nil {
		return nil, err
	}
	if err := c.start(ctx, o); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) step(format string, args ...any) {
	fmt.Fprintf(c.progress, "cluster: "+format+"\n", args...)
}

func (c *Cluster) start(ctx context.Context, o Options) error {
	begin := time.Now()
	var err error
	if c.bins, err = controlplane.Binaries(); err != nil {
		return err
	}
	if c.nodeBins, err = NodeBinaries(); err != nil {
		return err
	}
	pause := make(chan error, 1)
	pauseTar := filepath.Join(c.dir, "images", "pause.tar")
	go func() {
		pause <- BuildImages(ctx, filepath.Join(c.dir, "images"), pauseRegistry, pauseVersion, "pause=./test/framework/cluster/pause")
	}()

	c.cleanLeftovers()
	if err := c.freshState(); err != nil {
		return err
	}
	c.netns = listNetns()
	if err := c.hostNetwork(); err != nil {
		return err
	}
	p, err := newPKI(filepath.Join(c.dir, "pki"))
	if err != nil {
		return err
	}
	// containerd and the image imports go on while the apiserver starts.
	if err := c.startContainerd(ctx); err != nil {
		return err
	}
	imported := make(chan error, 1)
	go func() {
		if err := <-pause; err != nil {
			imported <- fmt.Errorf("failed to build the pause image: %w", err)
			return
		}
		for _, img := range append([]string{pauseTar}, o.Images...) {
			if err := c.Import(ctx, img); err != nil {
				imported <- err
				return
			}
		}
		c.step("containerd ready, %d images imported (%s)", 1+len(o.Images), time.Since(begin).Round(time.Millisecond))
		imported <- nil
	}()
	if err := c.startAPIServer(ctx, p); err != nil {
		return err
	}
	c.step("apiserver ready on https://%s:%d (%s)", NodeIP, APIServerPort, time.Since(begin).Round(time.Millisecond))
	if err := c.startControllers(); err != nil {
		return err
	}
	if err := <-imported; err != nil {
		return err
	}
	if err := c.startNode(p); err != nil {
		return err
	}
	if err := c.waitNodeReady(ctx); err != nil {
		return err
	}
	c.step("node %s Ready (%s)", NodeName, time.Since(begin).Round(time.Millisecond))
	return nil
}

// NodeBinaries returns the folder of kubelet, kube-proxy, kube-scheduler,
// containerd, containerd-shim-runc-v2 and ctr: $KUBE_NODE_ASSETS, or what
// hack/build-node.sh prints (it builds them on first use).
func NodeBinaries() (string, error) { return controlplane.Tool("KUBE_NODE_ASSETS", "build-node.sh") }

// BuildImages builds images of the repository's main packages with
// hack/images for this machine's platform: each target NAME=./path/to/main
// becomes out/NAME.tar, referenced as registry/NAME:version.
func BuildImages(ctx context.Context, out, registry, version string, targets ...string) error {
	args := append([]string{"run", "./hack/images", "--out", out, "--registry", registry, "--version", version,
		"--platforms", "linux/" + goarch()}, targets...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = controlplane.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go run ./hack/images %s: %w: %s", strings.Join(targets, " "), err, out)
	}
	return nil
}

// acquireLock waits until no other cluster runs on this machine.
func (c *Cluster) acquireLock(ctx context.Context) error {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("failed to open %s: %w", lockPath, err)
	}
	waiting := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return fmt.Errorf("failed to lock %s: %w", lockPath, err)
		}
		if !waiting {
			c.step("another cluster runs on this machine; waiting for it to stop (%s)", lockPath)
			waiting = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	// The previous holder's "PID DIR", for cleanLeftovers.
	if prev, err := io.ReadAll(f); err == nil {
		if _, d, ok := strings.Cut(strings.TrimSpace(string(prev)), " "); ok && filepath.IsAbs(d) {
			c.prevDir = d
		}
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), c.dir)), 0)
	c.lock = f
	return nil
}

// hostNetwork makes the bridge with NodeIP and the kernel settings pod
// traffic needs (forwarding; bridged traffic through iptables, for Services).
// What Stop restores is also kept in statePath, so that the next Start
// restores it should this cluster's process die without Stop.
func (c *Cluster) hostNetwork() error {
	c.network = true
	c.recordHostDirs()
	if data, err := os.ReadFile(statePath); err == nil {
		for line := range strings.Lines(string(data)) {
			switch f := strings.Fields(line); {
			case len(f) == 3 && f[0] == "sysctl":
				c.sysctls[f[1]] = f[2]
			case len(f) == 2 && f[0] == "absent":
				c.hostDirs[f[1]] = false
			}
		}
	}
	var record strings.Builder
	for d, existed := range c.hostDirs {
		if !existed {
			fmt.Fprintf(&record, "absent %s\n", d)
		}
	}
	for _, s := range []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"} {
		path := filepath.Join("/proc/sys", s)
		old, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", path, err)
		}
		if _, ok := c.sysctls[path]; !ok && strings.TrimSpace(string(old)) != "1" {
			c.sysctls[path] = strings.TrimSpace(string(old))
		}
		if v, ok := c.sysctls[path]; ok {
			fmt.Fprintf(&record, "sysctl %s %s\n", path, v)
		}
		if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("failed to set %s: %w", path, err)
		}
	}
	if err := os.WriteFile(statePath, []byte(record.String()), 0o600); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"link", "add", BridgeName, "type", "bridge"},
		{"addr", "add", NodeIP + "/16", "dev", BridgeName},
		{"link", "set", BridgeName, "up"},
		// ClusterIPs that kube-proxy has not programmed (yet) go to the
		// bridge and fail there, instead of leaving the machine by the
		// default route.
		{"route", "add", ServiceCIDR, "dev", BridgeName},
	} {
		if err := run("ip", args...); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startProc(name string, env []string, bin string, args ...string) (*proc.Process, error) {
	p, err := proc.Start(filepath.Join(c.LogDir, name+".log"), env, bin, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, &namedProc{name: name, Process: p})
	// Recorded so that the next Start can end this process should this one
	// die without Stop.
	if f, err := os.OpenFile(filepath.Join(c.dir, pidsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		_, _ = fmt.Fprintf(f, "%d %s\n", p.PID(), bin)
		_ = f.Close()
	}
	return p, nil
}

// pidsFile lists "PID BINARY" of every process Start started.
const pidsFile = "pids"

// freshState removes the state of an earlier cluster in the same folder.
func (c *Cluster) freshState() error {
	c.unmountAll()
	for _, d := range []string{"containerd", "kubelet", "etcd", "cni", "pki", "apiserver", pidsFile, filepath.Join("logs", "pods")} {
		if err := os.RemoveAll(filepath.Join(c.dir, d)); err != nil {
			return fmt.Errorf("failed to remove the earlier cluster's state: %w", err)
		}
	}
	return nil
}

func (c *Cluster) startAPIServer(ctx context.Context, p *pki) error {
	clientPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := c.startProc("etcd", nil, filepath.Join(c.bins, "etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return err
	}
	if err := etcd.WaitOK(ctx, etcdURL+"/health", time.Minute); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}

	if err := p.issue(apiserverName, "kube-apiserver", nil,
		[]net.IP{net.ParseIP(NodeIP), net.ParseIP(KubernetesServiceIP), net.ParseIP("127.0.0.1")},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}); err != nil {
		return err
	}
	if err := p.issue(kubeletClient, "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil); err != nil {
		return err
	}
	if err := p.issue(adminName, "mcp-cluster-admin", []string{"system:masters"}, nil, nil); err != nil {
		return err
	}
	if err := p.issue(nodeClientName, "system:node:"+NodeName, []string{"system:nodes"}, nil, nil); err != nil {
		return err
	}
	server := fmt.Sprintf("https://%s:%d", NodeIP, APIServerPort)
	if err := p.kubeconfig(c.Kubeconfig, server, adminName); err != nil {
		return err
	}
	if err := p.kubeconfig(filepath.Join(c.dir, "node.kubeconfig"), server, nodeClientName); err != nil {
		return err
	}
	apiserver, err := c.startProc("kube-apiserver", nil, filepath.Join(c.bins, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address="+NodeIP,
		"--advertise-address="+NodeIP,
		"--secure-port="+strconv.Itoa(APIServerPort),
		"--cert-dir="+filepath.Join(c.dir, "apiserver"),
		"--tls-cert-file="+p.certPath(apiserverName),
		"--tls-private-key-file="+p.keyPath(apiserverName),
		"--client-ca-file="+p.path(caCertFile),
		"--kubelet-client-certificate="+p.certPath(kubeletClient),
		"--kubelet-client-key="+p.keyPath(kubeletClient),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-cluster-ip-range="+ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.path(saPubFile),
		"--service-account-signing-key-file="+p.path(saKeyFile),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1")
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	if err := apiserver.Poll(ctx, 2*time.Minute, func() (bool, error) {
		resp, err := hc.Get(server + "/readyz")
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("/readyz answered %s", resp.Status)
		}
		return true, nil
	}); err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	c.Config = cfg
	c.Client, err = client.New(cfg, client.Options{Scheme: scheme.New()})
	return err
}

// controllers are kube-controller-manager's controllers the cluster runs:
// enough for Deployments, StatefulSets, DaemonSets, Jobs, Services,
// service accounts and their tokens, garbage collection and namespaces.
var controllers = []string{
	"serviceaccount", "serviceaccount-token", "root-ca-cert-publisher",
	"endpointslice", "endpointslicemirroring", "endpoint",
	"replicaset", "deployment", "statefulset", "daemonset", "job", "cronjob", "ttl-after-finished",
	"garbagecollector", "namespace", "disruption", "podgc", "clusterrole-aggregation",
	"resourcequota", "pvc-protection", "pv-protection",
}

func (c *Cluster) startControllers() error {
	p := filepath.Join(c.dir, "pki")
	if _, err := c.startProc("kube-controller-manager", nil, filepath.Join(c.bins, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--root-ca-file="+filepath.Join(p, caCertFile),
		"--service-account-private-key-file="+filepath.Join(p, saKeyFile),
		"--use-service-account-credentials=false",
		"--v=1"); err != nil {
		return err
	}
	_, err := c.startProc("kube-scheduler", nil, filepath.Join(c.nodeBins, "kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--v=1")
	return err
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	dir := filepath.Join(c.dir, "containerd")
	cniConf := filepath.Join(c.dir, "cni", "net.d")
	for _, d := range []string{dir, cniConf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte(containerdConfig(dir, cniConf, filepath.Join(dir, "runc"), PauseImage)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cniConf, "10-mcp-cluster.conflist"), []byte(cniConfig(filepath.Join(c.dir, "cni", "ipam"))), 0o644); err != nil {
		return err
	}
	// The shim and ctr are found next to containerd; runc from Debian.
	env := []string{"PATH=" + c.nodeBins + ":" + os.Getenv("PATH")}
	p, err := c.startProc("containerd", env, filepath.Join(c.nodeBins, "containerd"), "--config="+config)
	if err != nil {
		return err
	}
	if err := p.Poll(ctx, time.Minute, func() (bool, error) {
		_, err := c.ctr(ctx, "version")
		return err == nil, err
	}); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	return nil
}

// ctr runs ctr against the cluster's containerd in the k8s.io namespace
// (the one the CRI uses).
func (c *Cluster) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.nodeBins, "ctr"), append([]string{"--address", c.socket, "--namespace", "k8s.io"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Import imports an image tarball into the node's containerd, where pods
// find it (imagePullPolicy Never or IfNotPresent).
func (c *Cluster) Import(ctx context.Context, tarball string) error {
	_, err := c.ctr(ctx, "images", "import", "--local", tarball)
	return err
}

func (c *Cluster) startNode(p *pki) error {
	kdir := filepath.Join(c.dir, "kubelet")
	config := filepath.Join(c.dir, "kubelet-config.yaml")
	if err := os.WriteFile(config, []byte(kubeletConfig(c.socket, p.path(caCertFile), filepath.Join(c.LogDir, "pods"))), 0o644); err != nil {
		return err
	}
	env := []string{"PATH=" + c.nodeBins + ":" + os.Getenv("PATH")}
	if _, err := c.startProc("kubelet", env, filepath.Join(c.nodeBins, "kubelet"),
		"--config="+config,
		"--kubeconfig="+filepath.Join(c.dir, "node.kubeconfig"),
		"--root-dir="+kdir,
		"--cert-dir="+filepath.Join(kdir, "pki"),
		"--hostname-override="+NodeName,
		"--node-ip="+NodeIP,
		"--v=1"); err != nil {
		return err
	}
	_, err := c.startProc("kube-proxy", env, filepath.Join(c.nodeBins, "kube-proxy"),
		"--kubeconfig="+c.Kubeconfig,
		"--proxy-mode=iptables",
		"--cluster-cidr="+PodCIDR,
		"--hostname-override="+NodeName,
		"--bind-address="+NodeIP,
		"--healthz-bind-address="+NodeIP+":10256",
		"--metrics-bind-address="+NodeIP+":10249",
		"--nodeport-addresses="+NodeIP+"/32",
		// Leave the machine's conntrack settings alone.
		"--conntrack-max-per-core=0",
		"--conntrack-tcp-timeout-established=0",
		"--conntrack-tcp-timeout-close-wait=0",
		"--v=1")
	return err
}

// waitNodeReady waits for the node to be Ready, removes the not-ready taint
// (no node lifecycle controller runs to do it) and waits for the default
// service account.
func (c *Cluster) waitNodeReady(ctx context.Context) error {
	kubelet := c.proc("kubelet")
	if err := kubelet.Poll(ctx, 3*time.Minute, func() (bool, error) {
		node := &corev1.Node{}
		if err := c.Client.Get(ctx, types.NamespacedName{Name: NodeName}, node); err != nil {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status != corev1.ConditionTrue {
					return false, fmt.Errorf("node %s not Ready: %s", NodeName, cond.Message)
				}
				return true, nil
			}
		}
		return false, fmt.Errorf("node %s has no Ready condition yet", NodeName)
	}); err != nil {
		return err
	}
	if err := kubelet.Poll(ctx, time.Minute, func() (bool, error) {
		node := &corev1.Node{}
		if err := c.Client.Get(ctx, types.NamespacedName{Name: NodeName}, node); err != nil {
			return false, err
		}
		var keep []corev1.Taint
		for _, t := range node.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				keep = append(keep, t)
			}
		}
		if len(keep) == len(node.Spec.Taints) {
			return true, nil
		}
		node.Spec.Taints = keep
		return false, c.Client.Update(ctx, node)
	}); err != nil {
		return err
	}
	return kubelet.Poll(ctx, time.Minute, func() (bool, error) {
		sa := &corev1.ServiceAccount{}
		err := c.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "default"}, sa)
		if apierrors.IsNotFound(err) {
			return false, errors.New("no default service account yet")
		}
		return err == nil, err
	})
}

func (c *Cluster) proc(name string) *proc.Process {
	for _, p := range c.procs {
		if p.name == name {
			return p.Process
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

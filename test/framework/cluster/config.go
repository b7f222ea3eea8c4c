package cluster

import (
	"fmt"
	"path/filepath"
)

// containerdConfig is containerd's configuration: its own root, state and
// socket under dir so that nothing outside the cluster's folder is touched,
// and the CRI settings this machine needs.
func containerdConfig(dir, cniConfDir, runcRoot, sandboxImage string) string {
	return fmt.Sprintf(`version = 4
root = %[1]q
state = %[2]q
imports = []

[plugins."io.containerd.server.v1.grpc"]
  address = %[3]q

[plugins."io.containerd.server.v1.ttrpc"]
  address = %[4]q

[plugins."io.containerd.server.v1.debug"]
  address = ""

[plugins."io.containerd.server.v1.metrics"]
  address = ""

# NRI would listen on /var/run/nri/nri.sock, outside the cluster's folder.
[plugins."io.containerd.nri.v1.nri"]
  disable = true

# The shims' sockets: a short path (a unix socket's path is at most 107
# bytes), removed by Stop.
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = %[11]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[9]q

[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = %[10]q

[plugins."io.containerd.cri.v1.runtime"]
  # The process lacks CAP_SYS_RESOURCE: without this every sandbox fails
  # with runc's "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Pod network namespaces are mounted under the state folder, not
  # /var/run/netns, so Stop finds them among the cluster's mounts.
  netns_mounts_under_state_dir = true
  enable_selinux = false

  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"

    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "runc"
        # runc's state under the cluster's folder, not /run/containerd/runc.
        Root = %[5]q
        SystemdCgroup = false

  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[6]q]
    conf_dir = %[7]q
    max_conf_num = 1

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  # Images come from ctr import only; kubelet never pulls ours.
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %[8]q

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "containerd.sock"),
		filepath.Join(dir, "containerd.sock.ttrpc"), runcRoot, CNIBinDir, cniConfDir, sandboxImage,
		filepath.Join(dir, "opt"), filepath.Join(dir, "image-verifier"), shimSocketDir)
}

// cniConfig is the pod network: a bridge whose gateway is the node's
// address (the pods' default route, so they reach ClusterIPs), addresses from host-local (its state under the cluster's folder),
// no masquerading (traffic stays on this machine) and portmap for hostPorts.
func cniConfig(ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "mcp-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, BridgeName, PodCIDR, NodeIP, ipamDir)
}

// kubeletConfig is the kubelet's configuration; see docs/development.md
// ("A real node") for why each setting is there.
func kubeletConfig(socket, caFile, podLogsDir string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroups are v1 on this machine.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%[1]s
failSwapOn: false
enforceNodeAllocatable: []
address: %[2]s
port: %[3]d
readOnlyPort: 0
healthzBindAddress: %[2]s
healthzPort: %[4]d
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %[5]s
authorization:
  mode: AlwaysAllow
# The disk is shared with everything else on this machine: evict only when
# it is really full.
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
# Imported images cannot be pulled again: never collect them.
imageGCHighThresholdPercent: 100
clusterDomain: cluster.local
podLogsDir: %[6]s
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
`, socket, NodeIP, kubeletPort, kubeletHealthzPort, caFile, podLogsDir)
}

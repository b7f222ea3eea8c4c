#!/usr/bin/env bash
# Builds the pieces of the test node (test/framework/cluster, make cluster) into
# bin/kube-node/<versions>/ and prints that directory:
#   kubelet, kube-proxy, kube-scheduler  from hack/controlplane (k8s.io/kubernetes),
#                                        with the control plane's version ldflags
#   containerd, containerd-shim-runc-v2, ctr
#                                        from hack/containerd (containerd's Go module)
# and makes sure Debian's runc, CNI plugins and iptables are installed
# (hack/node-packages.sh). A build happens only when the folder for these
# versions is missing; with the control plane's build cache warm the first run
# costs a few minutes, later runs nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
"$root/hack/node-packages.sh" >/dev/null
out="$root/bin/kube-node/k8s-${KUBERNETES_VERSION}-containerd-${CONTAINERD_VERSION}"
bins=(kubelet kube-proxy kube-scheduler containerd containerd-shim-runc-v2 ctr)
ready=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || ready=0; done
if [ "$ready" = 1 ]; then echo "$out"; exit 0; fi

if ! grep -q "k8s.io/kubernetes ${KUBERNETES_VERSION}\$" "$root/hack/controlplane/go.mod"; then
  echo "hack/controlplane/go.mod does not pin k8s.io/kubernetes ${KUBERNETES_VERSION}; update it with hack/versions.env" >&2
  exit 1
fi
if ! grep -q "github.com/containerd/containerd/v2 ${CONTAINERD_VERSION}\$" "$root/hack/containerd/go.mod"; then
  echo "hack/containerd/go.mod does not pin github.com/containerd/containerd/v2 ${CONTAINERD_VERSION}; update it with hack/versions.env" >&2
  exit 1
fi
# shellcheck source=hack/k8s-ldflags.sh
. "$root/hack/k8s-ldflags.sh"
echo ">> building the test node (first time only: a few minutes on 2 cores once the control plane is built) into ${out#"$root"/}" >&2
tmp="$out.tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
(cd "$root/hack/controlplane" && go build -ldflags "$K8S_LDFLAGS" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy \
  k8s.io/kubernetes/cmd/kube-scheduler) >&2
# Static, without the snapshotters that need cgo or kernel modules this
# machine lacks; overlayfs and native remain.
(cd "$root/hack/containerd" && CGO_ENABLED=0 go build -tags "no_btrfs no_devmapper no_zfs no_aufs" -o "$tmp/" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr) >&2
rm -rf "$out" && mv "$tmp" "$out"
echo "$out"

#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kubectl) from Go modules into bin/controlplane/<versions>/ and prints that
# directory. A build happens only when the folder for these versions is missing,
# so the first run costs several minutes and later runs cost nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
out="$root/bin/controlplane/k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}"
bins=(etcd kube-apiserver kube-controller-manager kubectl)
ready=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || ready=0; done
if [ "$ready" = 1 ]; then echo "$out"; exit 0; fi

cd "$root/hack/controlplane"
if ! grep -q "k8s.io/kubernetes ${KUBERNETES_VERSION}\$" go.mod || ! grep -q "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\$" go.mod; then
  echo "hack/controlplane/go.mod does not pin k8s.io/kubernetes ${KUBERNETES_VERSION} and etcd ${ETCD_VERSION}; update it with hack/versions.env" >&2
  exit 1
fi
# shellcheck source=hack/k8s-ldflags.sh
. "$root/hack/k8s-ldflags.sh"
echo ">> building the test control plane (first time only: about 8-10 minutes on 2 cores) into ${out#"$root"/}" >&2
tmp="$out.tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
# Identical flags on every build keep the Go build cache warm.
go build -ldflags "$K8S_LDFLAGS" -o "$tmp/" \
  ./etcd \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl >&2
rm -rf "$out" && mv "$tmp" "$out"
echo "$out"

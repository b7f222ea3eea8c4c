# shellcheck shell=bash
# Sourced by hack/build-controlplane.sh and hack/build-node.sh after
# hack/versions.env: the -ldflags that stamp KUBERNETES_VERSION into the
# binaries built from hack/controlplane (otherwise they report
# v0.0.0-master). Both builds must use exactly these flags, so the packages
# they share come from the Go build cache.
k8s_minor=${KUBERNETES_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
K8S_LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LDFLAGS+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${k8s_minor}"
done

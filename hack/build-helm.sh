#!/usr/bin/env bash
# Builds the Helm CLI (HELM_VERSION of hack/versions.env) from its Go module
# through the wrapper module hack/helm into bin/helm/<version>/helm and prints
# that path. A build happens only when the binary for this version is missing
# (about 75 s cold on 2 cores); later runs cost nothing. No release binary is
# downloaded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
out="$root/bin/helm/${HELM_VERSION}"
if [ -x "$out/helm" ]; then echo "$out/helm"; exit 0; fi

cd "$root/hack/helm"
if ! grep -q "helm.sh/helm/v3 ${HELM_VERSION}\$" go.mod; then
  echo "hack/helm/go.mod does not pin helm.sh/helm/v3 ${HELM_VERSION}; update it with hack/versions.env" >&2
  exit 1
fi
# Helm assumes Kubernetes 1.20 for helm template and lint unless told
# otherwise; tell it the version of the test control plane.
minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
ldflags="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${minor}"
done
echo ">> building helm ${HELM_VERSION} (first time only: about 75 s on 2 cores) into ${out#"$root"/}" >&2
tmp="$out.tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
go build -ldflags "$ldflags" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm >&2
rm -rf "$out" && mv "$tmp" "$out"
echo "$out/helm"

#!/usr/bin/env bash
# Builds our small main that runs cert-manager's controller out of cluster
# (hack/cert-manager, cert-manager CERT_MANAGER_VERSION of hack/versions.env)
# into bin/cert-manager/<version>/cert-manager-controller and prints that path.
# A build happens only when the binary for this version is missing (cold:
# 5 minutes of CPU, about 3 minutes on 2 idle cores, 9 on a busy machine);
# later runs cost nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
out="$root/bin/cert-manager/${CERT_MANAGER_VERSION}"
if [ -x "$out/cert-manager-controller" ]; then echo "$out/cert-manager-controller"; exit 0; fi

for mod in "$root/hack/cert-manager/go.mod" "$root/go.mod"; do
  if ! grep -q "github.com/cert-manager/cert-manager ${CERT_MANAGER_VERSION}\$" "$mod"; then
    echo "${mod#"$root"/} does not pin github.com/cert-manager/cert-manager ${CERT_MANAGER_VERSION}; update it with hack/versions.env" >&2
    exit 1
  fi
done
echo ">> building cert-manager's controller ${CERT_MANAGER_VERSION} (first time only: 3-9 minutes on 2 cores) into ${out#"$root"/}" >&2
cd "$root/hack/cert-manager"
tmp="$out.tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
go build -ldflags "-X github.com/cert-manager/cert-manager/pkg/util.AppVersion=${CERT_MANAGER_VERSION}" \
  -o "$tmp/cert-manager-controller" . >&2
rm -rf "$out" && mv "$tmp" "$out"
echo "$out/cert-manager-controller"

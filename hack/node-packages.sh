#!/usr/bin/env bash
# Makes sure the Debian packages of the test node are installed: runc (the OCI
# runtime containerd's shim runs), containernetworking-plugins (the bridge,
# host-local, loopback and portmap CNI plugins in /usr/lib/cni) and iptables
# (kubelet and kube-proxy program it). CI runs as root on Debian: when one is
# missing it runs `apt-get install -y` (after `apt-get update` when the package
# lists do not know it). Prints the folder of the CNI plugins.
set -euo pipefail
cni=/usr/lib/cni
missing=()
command -v runc >/dev/null || missing+=(runc)
for p in bridge host-local loopback portmap; do
  [ -x "$cni/$p" ] || { missing+=(containernetworking-plugins); break; }
done
command -v iptables >/dev/null || missing+=(iptables)
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || { echo "hack/node-packages.sh: ${missing[*]} missing and there is no apt-get: install Debian's ${missing[*]}" >&2; exit 1; }
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "hack/node-packages.sh: ${missing[*]} missing; run as root or install them" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo ">> installing Debian's ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  for p in "${missing[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      "${sudo[@]}" apt-get update -qq >&2
      break
    fi
  done
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  }
  echo "runc: $(runc --version | head -1); $(iptables --version)" >&2
fi
echo "$cni"

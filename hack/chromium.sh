#!/usr/bin/env bash
# Makes sure Debian's chromium package is installed for the browser tests
# (test/browser) and prints the path of its binary. CI runs as root on Debian:
# when /usr/bin/chromium is missing it runs `apt-get install -y chromium`
# (after `apt-get update` when the package lists know no chromium). The tests
# never download a browser of their own.
set -euo pipefail
bin=/usr/bin/chromium
if [ ! -x "$bin" ]; then
  command -v apt-get >/dev/null || { echo "hack/chromium.sh: $bin is missing and there is no apt-get: install Debian's chromium package" >&2; exit 1; }
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "hack/chromium.sh: $bin is missing; run as root or install chromium" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo ">> installing Debian's chromium package (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show chromium >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -qq >&2
  fi
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2 || {
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
  }
fi
# (Debian's wrapper script may print a harmless shell warning on stderr.)
version=$("$bin" --version 2>/dev/null) || { echo "hack/chromium.sh: $bin --version failed" >&2; exit 1; }
echo "$version" >&2
echo "$bin"

#!/usr/bin/env bash
# Builds promql-check (hack/promql: Prometheus' PromQL and rules parser at
# PROMETHEUS_VERSION of hack/versions.env) into
# bin/promql-check/<version>-<source hash>/promql-check and prints that path.
# The hash covers hack/promql's own files, so an edit there rebuilds; otherwise
# a build happens once per version (24 s on 2 busy cores with the modules
# already downloaded); later runs cost nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
cd "$root/hack/promql"
if ! grep -q "github.com/prometheus/prometheus ${PROMETHEUS_VERSION}\$" go.mod; then
  echo "hack/promql/go.mod does not pin github.com/prometheus/prometheus ${PROMETHEUS_VERSION}; update it with hack/versions.env" >&2
  exit 1
fi
hash=$(cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)
out="$root/bin/promql-check/${PROMETHEUS_VERSION}-${hash}"
if [ -x "$out/promql-check" ]; then echo "$out/promql-check"; exit 0; fi
echo ">> building promql-check (Prometheus ${PROMETHEUS_VERSION}) into ${out#"$root"/}" >&2
tmp="$out.tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
go build -o "$tmp/promql-check" . >&2
rm -rf "$out" && mv "$tmp" "$out"
echo "$out/promql-check"

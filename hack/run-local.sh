#!/usr/bin/env bash
# make run: the local stack in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/localstack ./hack/localstack
exec bin/localstack

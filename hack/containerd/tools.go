//go:build tools

// Package containerd pins containerd, its runc shim and ctr, the container
// runtime of the test node (hack/build-node.sh). It imports what each of the
// three main packages imports, so that `go mod tidy` keeps every module they
// need.
package containerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"
	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins"
	_ "github.com/containerd/containerd/v2/cmd/containerd/command"
	_ "github.com/containerd/containerd/v2/cmd/ctr/app"
	_ "github.com/containerd/containerd/v2/pkg/shim"
)

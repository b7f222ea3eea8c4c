//go:build tools

// Package helm pins the Helm CLI the chart's tests run (hack/build-helm.sh).
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)

//go:build tools

// Package traefik pins the Gateway API implementation the edge tests and the
// local stack run (hack/build-traefik.sh).
package traefik

import (
	_ "github.com/traefik/traefik/v3/cmd/traefik"
)

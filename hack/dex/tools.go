//go:build tools

// Package dex pins the OpenID Connect provider the sign-in tests run
// (hack/build-dex.sh).
package dex

import (
	_ "github.com/dexidp/dex/cmd/dex"
)

//go:build tools

// Package lint pins the linters `make lint` runs, staticcheck and deadcode, built
// from the Go module proxy like the other tools.
package lint

import (
	_ "golang.org/x/tools/cmd/deadcode"
	_ "honnef.co/go/tools/cmd/staticcheck"
)

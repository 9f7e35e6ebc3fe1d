//go:build tools

// Package release pins the release tools, goreleaser and krew, built from the Go
// module proxy so the release checks need no other download.
package release

import (
	_ "github.com/goreleaser/goreleaser/v2"
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)

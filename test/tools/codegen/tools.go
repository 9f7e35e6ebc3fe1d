//go:build tools

// Package codegen pins controller-gen, which writes the deepcopy functions of
// pkg/apis (make generate), built from the Go module proxy like the other tools.
package codegen

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)

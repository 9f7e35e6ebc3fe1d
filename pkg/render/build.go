package render

import (
	"fmt"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
)

// build is github.com/fluxcd/pkg/kustomize.Build (the same krusty options: no load
// restrictions, built-in plugins only; one build at a time, since kustomize keeps
// global state; a panic turned into an error) with one difference that changes no
// output: Flux resets kyaml's global OpenAPI schema and parses the embedded Kubernetes
// schema again for every build (about 50 ms), so a kustomization's `openapi:` field
// cannot leak into the next build. Here the parsed schema is kept while no build has
// changed it, and reset exactly when one did. A command that renders many
// environments (status) or the same one three times (plan) would otherwise spend most
// of its time parsing the same schema.
func build(fs filesys.FileSystem, dirPath string) (res resmap.ResMap, err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("recovered from kustomize build panic: %v", r)
		}
	}()
	if !schemaPristine() {
		openapi.ResetOpenAPI()
		_ = openapi.Schema()
	}
	opts := &krusty.Options{LoadRestrictions: kustypes.LoadRestrictionsNone, PluginConfig: kustypes.DisabledPluginConfig()}
	return krusty.MakeKustomizer(opts).Run(fs, dirPath)
}

var (
	buildMu sync.Mutex
	// builtinSchemaVersion is what kyaml reports before any kustomization selects a
	// schema with `openapi:`.
	builtinSchemaVersion = func() string {
		openapi.ResetOpenAPI()
		return openapi.GetSchemaVersion()
	}()
	schemaParsed bool
)

// schemaPristine says whether the global schema is the embedded Kubernetes one,
// parsed, and untouched by any earlier build's `openapi:` field.
func schemaPristine() bool {
	if !schemaParsed || openapi.GetSchemaVersion() != builtinSchemaVersion {
		schemaParsed = true
		return false
	}
	return true
}

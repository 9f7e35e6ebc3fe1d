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

// Prepare parses the embedded Kubernetes schema in the background, once per process,
// so the first build does not wait for it: a command that will render calls it first
// thing, and the parse (about 100 ms of CPU, the largest part of a promotion's own
// CPU time) runs while the command waits on the clusters and the Git fetch. A build
// that starts before the parse is done waits for it (buildMu), as it would have
// waited for its own.
func Prepare() {
	prepareOnce.Do(func() {
		go func() {
			buildMu.Lock()
			defer buildMu.Unlock()
			if !schemaPristine() {
				openapi.ResetOpenAPI()
				_ = openapi.Schema()
			}
		}()
	})
}

var (
	prepareOnce sync.Once
	buildMu     sync.Mutex
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

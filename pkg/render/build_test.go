package render

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	generator "github.com/fluxcd/pkg/kustomize"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
)

// build must give exactly what Flux's Build gives, also around a build whose
// kustomization selects its own OpenAPI schema (the global state build keeps).
func TestBuildMatchesFluxAcrossSchemaChanges(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, seed.Write(root, seed.Options{}))
	// A kustomization with a custom schema: a CRD whose list merges by key, which
	// only a schema teaches kustomize's patches.
	custom := filepath.Join(root, "custom")
	require.NoError(t, os.MkdirAll(custom, 0o755))
	files := map[string]string{
		"kustomization.yaml": "resources: [widget.yaml]\nopenapi:\n  path: schema.json\npatches:\n- path: patch.yaml\n",
		"widget.yaml":        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  items:\n  - name: a\n    value: one\n  - name: b\n    value: two\n",
		"patch.yaml":         "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  items:\n  - name: b\n    value: changed\n",
		"schema.json": `{"definitions": {"com.example.v1.Widget": {"type": "object",
  "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Widget", "version": "v1"}],
  "properties": {"spec": {"type": "object", "properties": {"items": {"type": "array",
    "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
    "items": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}}}}}}}}`,
	}
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(custom, name), []byte(content), 0o644))
	}
	// The same without the schema: the patch replaces the list. Built right after
	// "custom", it shows whether the custom schema leaked.
	plain := filepath.Join(root, "plain")
	require.NoError(t, os.MkdirAll(plain, 0o755))
	for name, content := range files {
		if name == "kustomization.yaml" {
			content = "resources: [widget.yaml]\npatches:\n- path: patch.yaml\n"
		}
		require.NoError(t, os.WriteFile(filepath.Join(plain, name), []byte(content), 0o644))
	}
	fs := filesys.MakeFsOnDisk()
	order := []string{"apps/staging", "custom", "plain", "apps/production", "custom", "custom", "plain", "infrastructure/production"}
	// Our builds in a row first (Flux's resets the global schema, which would hide a leak).
	var got []string
	for _, dir := range order {
		m, err := build(fs, filepath.Join(root, dir))
		require.NoError(t, err, dir)
		y, err := m.AsYaml()
		require.NoError(t, err)
		got = append(got, string(y))
	}
	for i, dir := range order {
		want, err := generator.Build(fs, filepath.Join(root, dir))
		require.NoError(t, err, dir)
		wantYAML, err := want.AsYaml()
		require.NoError(t, err)
		require.Equal(t, string(wantYAML), got[i], "%s (build %d)", dir, i)
		switch dir {
		case "custom":
			require.Contains(t, got[i], "value: one", "the schema's merge key keeps item a")
		case "plain":
			require.NotContains(t, got[i], "value: one", "without the schema the patch replaces the list")
		}
	}
}

// Prepare parses the schema in the background while builds start beside it (the race
// detector watches kyaml's global schema): every build waits for it and gives what
// Flux's Build gives.
func TestPrepareBesideBuilds(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, seed.Write(root, seed.Options{}))
	fs := filesys.MakeFsOnDisk()
	dirs := []string{"apps/staging", "apps/production", "infrastructure/production"}
	Prepare()
	got := make([]string, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() {
			m, err := build(fs, filepath.Join(root, dir))
			if err == nil {
				var y []byte
				y, err = m.AsYaml()
				got[i] = string(y)
			}
			errs[i] = err
		})
	}
	Prepare() // once per process: a second call starts nothing
	wg.Wait()
	for i, dir := range dirs {
		require.NoError(t, errs[i], dir)
		want, err := generator.Build(fs, filepath.Join(root, dir))
		require.NoError(t, err, dir)
		wantYAML, err := want.AsYaml()
		require.NoError(t, err)
		require.Equal(t, string(wantYAML), got[i], dir)
	}
	buildMu.Lock()
	pristine := schemaPristine()
	buildMu.Unlock()
	require.True(t, pristine, "the embedded schema is parsed and kept")
}

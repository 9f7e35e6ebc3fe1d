package seed

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Every overlay the seed writes must build with kustomize, or nothing downstream means anything.
func TestWriteBuilds(t *testing.T) {
	for _, o := range []Options{
		{},
		{SharedCluster: true, ExtraApps: 3, InfraPodAnnotations: map[string]string{"a": "1"}},
		{ExtraApps: 3, PerAppOverlays: true},
	} {
		dir := t.TempDir()
		require.NoError(t, Write(dir, o))
		for _, p := range []string{"apps/staging", "apps/production", "infrastructure/staging", "infrastructure/production"} {
			res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(dir, p))
			require.NoError(t, err, p)
			require.NotEmpty(t, res.Resources(), p)
		}
		staging, err := os.ReadFile(filepath.Join(dir, "apps/staging/kustomization.yaml"))
		require.NoError(t, err)
		require.Contains(t, string(staging), "newTag: \"1.1.0\"")
		infra, apps := o.KustomizationNames("production")
		cl, err := os.ReadFile(filepath.Join(dir, "clusters/production/apps.yaml"))
		require.NoError(t, err)
		require.Contains(t, string(cl), "name: "+apps)
		require.Contains(t, string(cl), "- name: "+infra)
	}
}

// The extra apps run the tag their environment pins, in either layout, and the
// layouts differ only in where the pin is written.
func TestExtraAppsLayouts(t *testing.T) {
	images := func(t *testing.T, dir, env string) map[string]string {
		res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(dir, "apps", env))
		require.NoError(t, err)
		got := map[string]string{}
		for _, r := range res.Resources() {
			if r.GetKind() != "Deployment" {
				continue
			}
			require.Equal(t, env, r.GetNamespace(), r.GetName())
			img, err := r.GetString("spec.template.spec.containers[0].image")
			require.NoError(t, err)
			got[r.GetName()] = img
		}
		return got
	}
	dirs := map[bool]string{}
	for _, perApp := range []bool{false, true} {
		dir := t.TempDir()
		require.NoError(t, Write(dir, Options{ExtraApps: 2, PerAppOverlays: perApp}))
		dirs[perApp] = dir
		require.Equal(t, map[string]string{
			"my-app": MyAppImage + ":1.1.0", "redis": RedisImage + ":7.2.5",
			"app-000": "ghcr.io/my-org/app-000:1.0.0", "app-001": "ghcr.io/my-org/app-001:1.0.0",
		}, images(t, dir, "staging"), "per-app overlays: %v", perApp)
		require.Equal(t, map[string]string{
			"my-app": MyAppImage + ":1.0.0", "redis": RedisImage + ":7.2.4",
			"app-000": "ghcr.io/my-org/app-000:1.0.1", "app-001": "ghcr.io/my-org/app-001:1.0.1",
		}, images(t, dir, "production"), "per-app overlays: %v", perApp)
	}

	// One images: list: every pin in the environment's overlay, no sub-overlays.
	single, err := os.ReadFile(filepath.Join(dirs[false], "apps/production/kustomization.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(single), "  - ../base/app-001\n")
	require.Contains(t, string(single), "  - name: ghcr.io/my-org/app-001\n    newTag: \"1.0.1\"\n")
	require.NoDirExists(t, filepath.Join(dirs[false], "apps/production/app-001"))

	// Per-app overlays: the environment lists them, each pins its own image.
	root, err := os.ReadFile(filepath.Join(dirs[true], "apps/production/kustomization.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(root), "  - app-001\n")
	require.NotContains(t, string(root), "images:")
	sub, err := os.ReadFile(filepath.Join(dirs[true], "apps/production/app-001/kustomization.yaml"))
	require.NoError(t, err)
	require.Equal(t, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/app-001\n"+
		"images:\n  - name: ghcr.io/my-org/app-001\n    newTag: \"1.0.1\"\n", string(sub))
	stagingRoot, err := os.ReadFile(filepath.Join(dirs[true], "apps/staging/kustomization.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(stagingRoot), "  - name: "+MyAppImage+"\n", "the seed's own images stay in the environment's overlay")
	require.NotContains(t, string(stagingRoot), "name: ghcr.io/my-org/app-000")
}

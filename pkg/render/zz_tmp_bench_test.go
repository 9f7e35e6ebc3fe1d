package render

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
)

func tmpLarge(b *testing.B) (string, *kustomizev1.Kustomization) {
	dir := b.TempDir()
	envs := append([]seed.Env{{Name: "dev", Replicas: 1}}, seed.DefaultEnvs()...)
	require.NoError(b, seed.Write(dir, seed.Options{ExtraApps: 500, PerAppOverlays: true, Envs: envs}))
	data, err := os.ReadFile(filepath.Join(dir, "clusters/production/apps.yaml"))
	require.NoError(b, err)
	k := &kustomizev1.Kustomization{}
	require.NoError(b, yaml.UnmarshalStrict(data, k))
	return dir, k
}

func BenchmarkTmpRenderPerApp(b *testing.B) {
	dir, k := tmpLarge(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Render(context.Background(), Input{Dir: dir, Kustomization: k}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTmpKrustyPerApp(b *testing.B) {
	dir, _ := tmpLarge(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(dir, "apps/production")); err != nil {
			b.Fatal(err)
		}
	}
}

package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
)

// seedRepo writes the seed (or o) to a new directory.
func seedRepo(t testing.TB, o seed.Options) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, seed.Write(dir, o))
	return dir
}

// appsKustomization reads the apps Flux Kustomization of env from the repository.
func appsKustomization(t testing.TB, dir, env string) *kustomizev1.Kustomization {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "clusters", env, "apps.yaml"))
	require.NoError(t, err)
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, yaml.UnmarshalStrict(data, ks))
	return ks
}

func seedInput(t testing.TB, src, tgt string) Input {
	return Input{
		SourceDir: src, TargetDir: tgt,
		Source: appsKustomization(t, src, "staging"), Target: appsKustomization(t, tgt, "production"),
	}
}

func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			files[p] = string(data)
		}
		return nil
	}))
	return files
}

func TestComputeSeed(t *testing.T) {
	src, tgt := seedRepo(t, seed.Options{}), seedRepo(t, seed.Options{})
	srcBefore := snapshot(t, src)
	in := seedInput(t, src, tgt)
	p, err := Compute(context.Background(), in)
	require.NoError(t, err)

	require.Len(t, p.Changes, 2)
	require.Equal(t, Change{
		Repository: seed.RedisImage,
		From:       Image{Repository: seed.RedisImage, Tag: "7.2.4"},
		To:         Image{Repository: seed.RedisImage, Tag: "7.2.5"},
		Apps:       []string{"redis"}, Workloads: []string{"Deployment/production/redis"},
	}, p.Changes[0])
	require.Equal(t, Change{
		Repository: seed.MyAppImage,
		From:       Image{Repository: seed.MyAppImage, Tag: "1.0.0"},
		To:         Image{Repository: seed.MyAppImage, Tag: "1.1.0"},
		Apps:       []string{"my-app"}, Workloads: []string{"Deployment/production/my-app"},
	}, p.Changes[1])

	require.Len(t, p.Files, 1)
	require.Equal(t, "apps/production/kustomization.yaml", p.Files[0].Path)
	onDisk, err := os.ReadFile(filepath.Join(tgt, "apps/production/kustomization.yaml"))
	require.NoError(t, err)
	require.Equal(t, string(p.Files[0].After), string(onDisk))
	golden(t, "testdata/seed-production.diff.golden", []byte(p.Files[0].UnifiedDiff()))
	golden(t, "testdata/seed-production.rendered.golden", []byte(p.RenderedDiff))
	require.Equal(t, srcBefore, snapshot(t, src), "the source checkout must not change")

	// Computing again on the edited checkout finds nothing to do and writes nothing.
	tgtAfter := snapshot(t, tgt)
	again, err := Compute(context.Background(), in)
	require.NoError(t, err)
	require.Empty(t, again.Changes)
	require.Empty(t, again.Files)
	require.Empty(t, again.RenderedDiff)
	require.Equal(t, tgtAfter, snapshot(t, tgt))
}

func TestComputeFilterAndDeterminism(t *testing.T) {
	src := seedRepo(t, seed.Options{})
	var files []string
	for i := 0; i < 2; i++ {
		tgt := seedRepo(t, seed.Options{})
		in := seedInput(t, src, tgt)
		in.Filter = Filter{Apps: []string{"my-app"}}
		p, err := Compute(context.Background(), in)
		require.NoError(t, err)
		require.Len(t, p.Changes, 1)
		require.Equal(t, seed.MyAppImage, p.Changes[0].Repository)
		require.NotContains(t, p.RenderedDiff, "redis:7.2.5")
		files = append(files, string(p.Files[0].After))
	}
	require.Equal(t, files[0], files[1])

	tgt := seedRepo(t, seed.Options{})
	in := seedInput(t, src, tgt)
	in.Filter = Filter{Images: []string{"nginx"}}
	_, err := Compute(context.Background(), in)
	var fe *FilterError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, []string{
		"docker.io/library/redis", "ghcr.io/my-org/my-app",
	}, fe.Available)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	writeFile(t, path, string(data)+content)
}

func TestComputeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, tgt string, in *Input)
		check   func(t *testing.T, err error)
	}{
		{
			name: "spec.images overrides the overlay",
			prepare: func(t *testing.T, tgt string, in *Input) {
				in.Target.Spec.Images = []kustomize.Image{{Name: seed.MyAppImage, NewTag: "1.0.0"}}
			},
			check: func(t *testing.T, err error) {
				var ne *NotEffectiveError
				require.ErrorAs(t, err, &ne)
				require.Len(t, ne.Reasons, 1)
				require.Contains(t, ne.Reasons[0], "Kustomization/flux-system/apps sets spec.images for ghcr.io/my-org/my-app")
			},
		},
		{
			name: "image set through a postBuild variable",
			prepare: func(t *testing.T, tgt string, in *Input) {
				writeFile(t, filepath.Join(tgt, "apps/production/my-app-image.yaml"),
					"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: my-app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/my-org/my-app:${MY_APP_TAG}\n")
				appendFile(t, filepath.Join(tgt, "apps/production/kustomization.yaml"), "  - path: my-app-image.yaml\n")
				in.Target.Spec.PostBuild = &kustomizev1.PostBuild{Substitute: map[string]string{"MY_APP_TAG": "1.0.0"}}
			},
			check: func(t *testing.T, err error) {
				var ne *NotEffectiveError
				require.ErrorAs(t, err, &ne)
				require.Len(t, ne.Reasons, 1)
				require.Contains(t, ne.Reasons[0], `Deployment/production/my-app container app gets its image "ghcr.io/my-org/my-app:1.0.0" from a postBuild variable ("ghcr.io/my-org/my-app:${MY_APP_TAG}"`)
			},
		},
		{
			name: "image-automation marker on the images entry",
			prepare: func(t *testing.T, tgt string, in *Input) {
				appendFile(t, filepath.Join(tgt, "apps/production/kustomization.yaml"),
					"images:\n  - name: ghcr.io/my-org/my-app\n    newTag: \"1.0.0\" # {\"$imagepolicy\": \"flux-system:my-app:tag\"}\n")
			},
			check: func(t *testing.T, err error) {
				var ne *NotEffectiveError
				require.ErrorAs(t, err, &ne)
				require.Len(t, ne.Reasons, 1)
				require.Contains(t, ne.Reasons[0], "apps/production/kustomization.yaml:13 has an image-automation marker")
				require.Contains(t, ne.Reasons[0], `flux-system:my-app:tag`)
			},
		},
		{
			name: "image-automation marker in an overlay patch",
			prepare: func(t *testing.T, tgt string, in *Input) {
				writeFile(t, filepath.Join(tgt, "apps/production/my-app-image.yaml"),
					"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: my-app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/my-org/my-app:1.0.0 # {\"$imagepolicy\": \"flux-system:my-app\"}\n")
				appendFile(t, filepath.Join(tgt, "apps/production/kustomization.yaml"), "  - path: my-app-image.yaml\n")
			},
			check: func(t *testing.T, err error) {
				var ne *NotEffectiveError
				require.ErrorAs(t, err, &ne)
				require.Len(t, ne.Reasons, 1)
				require.Contains(t, ne.Reasons[0], "apps/production/my-app-image.yaml:10 has an image-automation marker for ghcr.io/my-org/my-app")
			},
		},
		{
			name: "several reasons at once",
			prepare: func(t *testing.T, tgt string, in *Input) {
				in.Target.Spec.Images = []kustomize.Image{{Name: seed.MyAppImage, NewTag: "1.0.0"}, {Name: seed.RedisImage, Digest: "sha256:aaaa"}}
				in.Target.Spec.Images[1].Digest = ""
				in.Target.Spec.Images[1].NewTag = "7.2.4"
			},
			check: func(t *testing.T, err error) {
				var ne *NotEffectiveError
				require.ErrorAs(t, err, &ne)
				require.Len(t, ne.Reasons, 2)
				require.Contains(t, err.Error(), "cannot take this promotion")
			},
		},
		{
			name: "overlay without kustomization.yaml",
			prepare: func(t *testing.T, tgt string, in *Input) {
				writeFile(t, filepath.Join(tgt, "apps/plain/deployment.yaml"),
					"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: my-app\n  namespace: production\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/my-org/my-app:1.0.0\n")
				in.Target.Spec.Path = "./apps/plain"
			},
			check: func(t *testing.T, err error) {
				var ke *NoKustomizationError
				require.ErrorAs(t, err, &ke)
				require.Equal(t, "apps/plain", ke.Dir)
				require.Contains(t, err.Error(), "Flux generates one")
			},
		},
		{
			name: "verification fails when the edit changes more than planned",
			prepare: func(t *testing.T, tgt string, in *Input) {
				// kustomize's images transformer also rewrites containers outside pod
				// specs, which the plan does not count as workloads.
				writeFile(t, filepath.Join(tgt, "apps/production/pipeline.yaml"),
					"apiVersion: ci.example.com/v1\nkind: Pipeline\nmetadata:\n  name: smoke\nspec:\n  steps:\n    containers:\n      - name: smoke\n        image: ghcr.io/my-org/my-app:1.0.0\n")
				path := filepath.Join(tgt, "apps/production/kustomization.yaml")
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				writeFile(t, path, strings.Replace(string(data), "resources:\n", "resources:\n  - pipeline.yaml\n", 1))
			},
			check: func(t *testing.T, err error) {
				var ve *VerifyError
				require.ErrorAs(t, err, &ve)
				require.Contains(t, ve.Diff, "-    - image: ghcr.io/my-org/my-app:1.0.0\n+    - image: ghcr.io/my-org/my-app:1.1.0\n")
				require.Contains(t, ve.Diff, "--- planned ci.example.com/v1 Pipeline production/smoke\n+++ rendered ci.example.com/v1 Pipeline production/smoke\n")
				require.NotContains(t, ve.Diff, "Deployment", "planned changes are not reported as unexpected")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, tgt := seedRepo(t, seed.Options{}), seedRepo(t, seed.Options{})
			in := seedInput(t, src, tgt)
			tc.prepare(t, tgt, &in)
			before := snapshot(t, tgt)
			_, err := Compute(context.Background(), in)
			require.Error(t, err)
			tc.check(t, err)
			require.Equal(t, before, snapshot(t, tgt), "a refused promotion leaves the target checkout as it was")
		})
	}
}

func TestComputeRenderErrors(t *testing.T) {
	src, tgt := seedRepo(t, seed.Options{}), seedRepo(t, seed.Options{})
	in := seedInput(t, src, tgt)
	in.Source.Spec.Path = "./apps/nope"
	_, err := Compute(context.Background(), in)
	require.ErrorContains(t, err, "rendering the source Kustomization/flux-system/apps")
	require.ErrorContains(t, err, "does not exist")

	_, err = Compute(context.Background(), Input{})
	require.True(t, err != nil && !errors.Is(err, context.Canceled))
}

package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
)

// perAppOptions is the seed with two extra apps in per-app sub-overlays: staging
// pins them to 1.0.0, production to 1.0.1.
var perAppOptions = seed.Options{ExtraApps: 2, PerAppOverlays: true}

const app000 = "ghcr.io/my-org/app-000"

func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(data), old, path)
	writeFile(t, path, strings.Replace(string(data), old, new, 1))
}

// Where the edit goes in an overlay made of sub-overlays: each case's files are
// compared with testdata/nested/NAME.golden (the files' diffs, then the rendered diff).
func TestComputeNestedOverlays(t *testing.T) {
	for _, tc := range []struct {
		name    string
		filter  Filter
		prepare func(t *testing.T, src, tgt string)
		// files are the paths Compute must change, repository-relative, sorted.
		files     []string
		workloads map[string][]string // by repository
	}{
		{
			name:      "sub-overlay-in-place",
			filter:    Filter{Apps: []string{"app-000"}},
			files:     []string{"apps/production/app-000/kustomization.yaml"},
			workloads: map[string][]string{app000: {"Deployment/production/app-000"}},
		},
		{
			// The extra apps are edited in their sub-overlays; the seed's own images,
			// which no file of the overlay sets, are added to the overlay root.
			name: "whole-environment",
			files: []string{
				"apps/production/app-000/kustomization.yaml",
				"apps/production/app-001/kustomization.yaml",
				"apps/production/kustomization.yaml",
			},
			workloads: map[string][]string{
				app000: {"Deployment/production/app-000"}, "ghcr.io/my-org/app-001": {"Deployment/production/app-001"},
				seed.MyAppImage: {"Deployment/production/my-app"}, seed.RedisImage: {"Deployment/production/redis"},
			},
		},
		{
			// The overlay root's entry runs after the sub-overlay's and wins: it is the
			// one edited, and the sub-overlay's is left as it is.
			name:   "outer-entry-wins",
			filter: Filter{Apps: []string{"app-000"}},
			prepare: func(t *testing.T, src, tgt string) {
				appendFile(t, filepath.Join(tgt, "apps/production/kustomization.yaml"),
					"images:\n  - name: ghcr.io/my-org/app-000 # pinned for the whole environment\n    newTag: \"1.0.5\"\n")
			},
			files:     []string{"apps/production/kustomization.yaml"},
			workloads: map[string][]string{app000: {"Deployment/production/app-000"}},
		},
		{
			// Only the base, shared by every environment, sets the image: it is not
			// edited; an entry added to the overlay root overrides it in production.
			name:   "base-outside-the-overlay",
			filter: Filter{Apps: []string{"app-000"}},
			prepare: func(t *testing.T, src, tgt string) {
				writeFile(t, filepath.Join(tgt, "apps/production/app-000/kustomization.yaml"),
					"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/app-000\n")
				appendFile(t, filepath.Join(tgt, "apps/base/app-000/kustomization.yaml"),
					"images:\n  - name: ghcr.io/my-org/app-000\n    newTag: \"1.0.7\"\n")
			},
			files:     []string{"apps/production/kustomization.yaml"},
			workloads: map[string][]string{app000: {"Deployment/production/app-000"}},
		},
		{
			// A workload of the repository outside the sub-overlay that sets it: the
			// sub-overlay's entry would not reach it, so the edit goes to the root.
			name:   "workload-outside-the-sub-overlay",
			filter: Filter{Apps: []string{"app-000"}},
			prepare: func(t *testing.T, src, tgt string) {
				writeFile(t, filepath.Join(tgt, "apps/production/smoke.yaml"),
					"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: smoke\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: smoke\n          image: ghcr.io/my-org/app-000:1.0.1\n")
				replaceInFile(t, filepath.Join(tgt, "apps/production/kustomization.yaml"), "resources:\n", "resources:\n  - smoke.yaml\n")
			},
			files:     []string{"apps/production/kustomization.yaml"},
			workloads: map[string][]string{app000: {"Deployment/production/app-000", "Job/production/smoke"}},
		},
		{
			// Two sub-overlays set the same repository for their own apps: both are
			// edited.
			name:   "sibling-sub-overlays",
			filter: Filter{Images: []string{app000}},
			prepare: func(t *testing.T, src, tgt string) {
				for _, dir := range []string{src, tgt} {
					replaceInFile(t, filepath.Join(dir, "apps/base/app-001/deployment.yaml"), "ghcr.io/my-org/app-001:", "ghcr.io/my-org/app-000:")
					for _, env := range []string{"staging", "production"} {
						replaceInFile(t, filepath.Join(dir, "apps", env, "app-001/kustomization.yaml"), "name: ghcr.io/my-org/app-001", "name: ghcr.io/my-org/app-000")
					}
				}
			},
			files: []string{
				"apps/production/app-000/kustomization.yaml",
				"apps/production/app-001/kustomization.yaml",
			},
			workloads: map[string][]string{app000: {"Deployment/production/app-000", "Deployment/production/app-001"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, tgt := seedRepo(t, perAppOptions), seedRepo(t, perAppOptions)
			if tc.prepare != nil {
				tc.prepare(t, src, tgt)
			}
			in := seedInput(t, src, tgt)
			in.Filter = tc.filter
			srcBefore, tgtBefore := snapshot(t, src), snapshot(t, tgt)
			p, err := Compute(context.Background(), in)
			require.NoError(t, err)

			workloads := map[string][]string{}
			for _, c := range p.Changes {
				workloads[c.Repository] = c.Workloads
			}
			require.Equal(t, tc.workloads, workloads)

			var paths []string
			var diffs strings.Builder
			changed := map[string]string{}
			for _, f := range p.Files {
				paths = append(paths, f.Path)
				diffs.WriteString(f.UnifiedDiff())
				changed[filepath.Join(tgt, filepath.FromSlash(f.Path))] = string(f.After)
				require.Equal(t, tgtBefore[filepath.Join(tgt, filepath.FromSlash(f.Path))], string(f.Before), f.Path)
			}
			require.Equal(t, tc.files, paths)
			golden(t, filepath.Join("testdata/nested", tc.name+".golden"),
				[]byte("# files\n"+diffs.String()+"# rendered\n"+p.RenderedDiff))

			// On disk: exactly the planned files changed, to what the plan says.
			want := map[string]string{}
			for path, content := range tgtBefore {
				want[path] = content
			}
			for path, content := range changed {
				want[path] = content
			}
			require.Equal(t, want, snapshot(t, tgt))
			require.Equal(t, srcBefore, snapshot(t, src), "the source checkout must not change")

			// Idempotent: computing again on the edited checkout changes nothing.
			again, err := Compute(context.Background(), in)
			require.NoError(t, err)
			require.Empty(t, again.Changes)
			require.Empty(t, again.Files)
			require.Equal(t, want, snapshot(t, tgt))
		})
	}
}

// The refusals hold for entries and patches in sub-overlays, and name the sub-overlay's file.
func TestComputeNestedRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, tgt string)
		reason  string
	}{
		{
			name: "image-automation marker on a sub-overlay's entry",
			prepare: func(t *testing.T, tgt string) {
				replaceInFile(t, filepath.Join(tgt, "apps/production/app-000/kustomization.yaml"),
					"newTag: \"1.0.1\"\n", "newTag: \"1.0.1\" # {\"$imagepolicy\": \"flux-system:app-000:tag\"}\n")
			},
			reason: `apps/production/app-000/kustomization.yaml:7 has an image-automation marker (newTag: "1.0.1" # {"$imagepolicy": "flux-system:app-000:tag"}) on the images: entry for ghcr.io/my-org/app-000`,
		},
		{
			name: "image-automation marker in a sub-overlay's patch",
			prepare: func(t *testing.T, tgt string) {
				writeFile(t, filepath.Join(tgt, "apps/production/app-000/image.yaml"),
					"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-000\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/my-org/app-000:1.0.1 # {\"$imagepolicy\": \"flux-system:app-000\"}\n")
				appendFile(t, filepath.Join(tgt, "apps/production/app-000/kustomization.yaml"), "patches:\n  - path: image.yaml\n")
			},
			reason: `apps/production/app-000/image.yaml:10 has an image-automation marker for ghcr.io/my-org/app-000`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, tgt := seedRepo(t, perAppOptions), seedRepo(t, perAppOptions)
			tc.prepare(t, tgt)
			in := seedInput(t, src, tgt)
			in.Filter = Filter{Apps: []string{"app-000"}}
			before := snapshot(t, tgt)
			_, err := Compute(context.Background(), in)
			var ne *NotEffectiveError
			require.ErrorAs(t, err, &ne)
			require.Len(t, ne.Reasons, 1)
			require.Contains(t, ne.Reasons[0], tc.reason)
			require.Equal(t, before, snapshot(t, tgt), "a refused promotion leaves the target checkout as it was")
		})
	}
}

// owners on hand-made trees: which files of the overlay an edit goes to.
func TestOverlayOwners(t *testing.T) {
	const k = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
	entry := func(repo string) string { return "images:\n  - name: " + repo + "\n    newTag: \"1\"\n" }
	for _, tc := range []struct {
		name  string
		files map[string]string // under the repository; the overlay is env/
		want  []string          // repository-relative
	}{
		{
			name: "root only",
			files: map[string]string{
				"env/kustomization.yaml":   k + "resources:\n  - a\n" + entry("r"),
				"env/a/kustomization.yaml": k,
			},
			want: []string{"env/kustomization.yaml"},
		},
		{
			name: "sub-overlay",
			files: map[string]string{
				"env/kustomization.yaml":   k + "resources:\n  - a\n  - b\n",
				"env/a/kustomization.yaml": k + entry("r"),
				"env/b/kustomization.yaml": k + entry("other"),
			},
			want: []string{"env/a/kustomization.yaml"},
		},
		{
			name: "the outermost of nested entries",
			files: map[string]string{
				"env/kustomization.yaml":         k + "resources:\n  - group\n",
				"env/group/kustomization.yaml":   k + "resources:\n  - a\n" + entry("r"),
				"env/group/a/kustomization.yaml": k + entry("r"),
			},
			want: []string{"env/group/kustomization.yaml"},
		},
		{
			name: "siblings, through the deprecated bases:",
			files: map[string]string{
				"env/kustomization.yaml":   k + "resources:\n  - a\nbases:\n  - b\n",
				"env/a/kustomization.yaml": k + entry("r"),
				"env/b/kustomization.yaml": k + "images:\n  - name: x\n    newName: r\n",
			},
			want: []string{"env/a/kustomization.yaml", "env/b/kustomization.yaml"},
		},
		{
			name: "a component runs after its parent's resources",
			files: map[string]string{
				"env/kustomization.yaml":        k + "resources:\n  - a\ncomponents:\n  - pin\n",
				"env/a/kustomization.yaml":      k + entry("r"),
				"env/pin/kustomization.yaml":    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" + entry("r"),
				"env/a/b/kustomization.yaml":    k,
				"env/unused/kustomization.yaml": k + entry("r"),
			},
			want: []string{"env/pin/kustomization.yaml"},
		},
		{
			name: "bases and components outside the overlay are not edited",
			files: map[string]string{
				"env/kustomization.yaml":    k + "resources:\n  - ../base\n  - a\ncomponents:\n  - ../shared\n",
				"env/a/kustomization.yml":   k + "resources:\n  - ../../base2\n  - https://github.com/acme/x//deploy?ref=v1\n  - deployment.yaml\n",
				"base/kustomization.yaml":   k + entry("r"),
				"base2/kustomization.yaml":  k + entry("r"),
				"shared/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" + entry("r"),
			},
			want: nil,
		},
		{
			name: "a file the edit cannot parse is left out",
			files: map[string]string{
				"env/kustomization.yaml":   k + "resources:\n  - a\n",
				"env/a/kustomization.yaml": "- not\n- a mapping\n",
			},
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), content)
			}
			tree, err := loadOverlay(dir, filepath.Join(dir, "env"))
			require.NoError(t, err)
			var got []string
			for _, f := range tree.owners("r") {
				got = append(got, f.rel)
			}
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("a symlink out of the overlay is not followed", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "env/kustomization.yaml"), k+"resources:\n  - linked\n")
		writeFile(t, filepath.Join(dir, "base/kustomization.yaml"), k+entry("r"))
		require.NoError(t, os.Symlink(filepath.Join(dir, "base"), filepath.Join(dir, "env/linked")))
		tree, err := loadOverlay(dir, filepath.Join(dir, "env"))
		require.NoError(t, err)
		require.Len(t, tree.files, 1)
		require.Empty(t, tree.owners("r"))
	})
}

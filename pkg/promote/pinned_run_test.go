package promote

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

// pinnedSources is a hand-written manifest with production's pinned GitRepository
// among other documents, with comments to keep.
const pinnedSources = `# production's sources
apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  ref:
    tag: v1.0.0 # moved by kubectl-promote
  url: URL
`

// pinnedTarget pins production to v1.0.0 (the seed, tagged) and gives its cluster a
// Kustomization "cluster" that reads branch, path ./clusters/production.
func (f *fleet) pinnedTarget(branch string) {
	f.t.Helper()
	ctx := context.Background()
	f.git("-c", "user.name=t", "-c", "user.email=t@example.com", "tag", "-a", "-m", "first", "v1.0.0", f.seed)
	gr := &sourcev1.GitRepository{}
	require.NoError(f.t, f.prod.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: "flux-system"}, gr))
	gr.Spec.Reference = &sourcev1.GitRepositoryRef{Tag: "v1.0.0"}
	require.NoError(f.t, f.prod.Client.Update(ctx, gr))
	require.NoError(f.t, f.prod.Client.Create(ctx, &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: fakeflux.Namespace, Name: "cluster"},
		Spec:       sourcev1.GitRepositorySpec{URL: gr.Spec.URL, Interval: metav1.Duration{Duration: time.Minute}, Reference: &sourcev1.GitRepositoryRef{Branch: branch}},
	}))
	require.NoError(f.t, f.prod.Client.Create(ctx, &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Namespace: fakeflux.Namespace, Name: "cluster"},
		Spec: kustomizev1.KustomizationSpec{Path: "./clusters/production", Interval: metav1.Duration{Duration: time.Minute},
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "cluster"}},
	}))
	if branch != "main" {
		f.git("branch", branch, f.seed)
	}
}

// pushTo commits files on branch with the git binary and returns the new head.
func (f *fleet) pushTo(branch string, files map[string]string, msg string) string {
	f.t.Helper()
	work := filepath.Join(f.t.TempDir(), "work")
	_, err := gitserver.Git(filepath.Dir(work), "clone", "--quiet", "--branch", branch, f.bare, work)
	require.NoError(f.t, err)
	for p, content := range files {
		require.NoError(f.t, os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755))
		require.NoError(f.t, os.WriteFile(filepath.Join(work, p), []byte(content), 0o644))
	}
	for _, args := range [][]string{{"add", "--all"}, {"commit", "--quiet", "-m", msg}, {"push", "--quiet", "origin", "HEAD:" + branch}} {
		_, err := gitserver.Git(work, args...)
		require.NoError(f.t, err)
	}
	out, err := gitserver.Git(work, "rev-parse", "HEAD")
	require.NoError(f.t, err)
	return out
}

// The manifest on a branch of its own: the image commit and its tag on main, the
// manifest commit on that branch, all in one push; the manifest keeps every byte but
// the tag.
func TestPromotePinnedTagOnAnotherBranch(t *testing.T) {
	f := newFleet(t)
	f.pinnedTarget("cluster")
	url := f.srv.URL("fleet.git")
	sources := strings.Replace(pinnedSources, "URL", url, 1)
	f.pushTo("cluster", map[string]string{"clusters/production/sources.yaml": sources}, "production's sources")

	p := &fakeflux.Progress{}
	res, err := Run(context.Background(), f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, StrategyPinnedTag, res.Strategy)
	require.Equal(t, "v1.0.1", res.Tag)
	require.NotNil(t, res.Pin)
	require.Equal(t, "clusters/production/sources.yaml", res.Pin.Manifest)
	require.Equal(t, res.Pin.Manifest, res.Pin.File)
	require.Equal(t, "cluster", res.Pin.Branch)
	require.Equal(t, "flux-system/cluster", res.Pin.Kustomization)
	require.Equal(t, "v1.0.0", res.Pin.Previous)
	require.Equal(t, f.head(), res.Commit.SHA, "the image edit is on main")
	require.Equal(t, res.Commit.SHA, f.git("rev-parse", "v1.0.1^{commit}"))
	require.Equal(t, res.Pin.Commit, f.git("rev-parse", "refs/heads/cluster"))
	got := f.git("show", "cluster:clusters/production/sources.yaml")
	require.Equal(t, strings.TrimSpace(strings.Replace(sources, "tag: v1.0.0 #", "tag: v1.0.1 #", 1)), got)
	require.Contains(t, f.git("log", "-1", "--format=%B", "cluster"), "Promoted-Strategy: pinned-tag")
	require.Contains(t, res.Reconcile.Annotated, "GitRepository/flux-system/cluster", "the manifest's Kustomization is asked first")
	require.Contains(t, res.Reconcile.Annotated, "Kustomization/flux-system/cluster")
	// The files shown include the manifest edit.
	var paths []string
	for _, fl := range res.Files {
		paths = append(paths, fl.Path)
	}
	require.Contains(t, paths, "clusters/production/sources.yaml")
}

// No manifest declares the pinned GitRepository: refused before anything is
// written, naming where it looked; a --tag that exists is refused too.
func TestPromotePinnedTagRefusals(t *testing.T) {
	f := newFleet(t)
	f.pinnedTarget("main")
	p := &fakeflux.Progress{}
	_, err := Run(context.Background(), f.clients, f.options(p))
	require.ErrorContains(t, err, "no manifest in the repository declares GitRepository flux-system/flux-system of production, which pins tag v1.0.0")
	require.ErrorContains(t, err, "searched ./clusters/production of branch main (Kustomization flux-system/cluster)")
	require.ErrorContains(t, err, "Kustomization flux-system/apps")
	require.Equal(t, f.seed, f.head(), "nothing was pushed")
	require.Equal(t, "v1.0.0", f.git("tag", "--list"))

	f.pushTo("main", map[string]string{"clusters/production/sources.yaml": strings.Replace(pinnedSources, "URL", f.srv.URL("fleet.git"), 1)}, "sources")
	o := f.options(p)
	o.Tag = TagOptions{Tag: "v1.0.0"}
	_, err = Run(context.Background(), f.clients, o)
	require.ErrorContains(t, err, "tag v1.0.0 for production already exists")

	// Two manifests declaring it: there is no one to edit.
	f.pushTo("main", map[string]string{"clusters/production/copy.yaml": strings.Replace(pinnedSources, "URL", f.srv.URL("fleet.git"), 1)}, "copy")
	before := f.head()
	_, err = Run(context.Background(), f.clients, f.options(p))
	require.ErrorContains(t, err, "declared by several manifests")
	require.Equal(t, before, f.head())
}

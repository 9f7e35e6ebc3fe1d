package status

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// pipeline is the seed's staging and production on fake clusters, both having
// applied the seed commit of a repository on a real Git server, and the bare
// repository to add commits and tags to.
type pipeline struct {
	bare, seed, url string
	staging, prod   *flux.Cluster
	clients         *flux.Clients
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	srv := gitserver.NewForTest(t, gitserver.Options{})
	dir := t.TempDir()
	require.NoError(t, seed.Write(dir, seed.Options{}))
	sha, err := srv.Init("fleet.git", dir, "main")
	require.NoError(t, err)
	p := &pipeline{bare: srv.Dir("fleet.git"), seed: sha, url: srv.URL("fleet.git")}
	p.staging = fakeflux.NewCluster(t, fakeflux.Options{Context: "staging", Env: "staging", URL: p.url, Applied: sha})
	p.prod = fakeflux.NewCluster(t, fakeflux.Options{Context: "production", Env: "production", URL: p.url, Applied: sha})
	p.clients = flux.NewClientsFor("staging", p.staging, p.prod)
	return p
}

func envOf(context string) flux.RefSpec {
	return flux.RefSpec{Raw: context, ByContext: true, Ref: flux.Ref{Context: context, Namespace: fakeflux.Namespace, Name: "apps"}}
}

// setRef points the production GitRepository at ref.
func (p *pipeline) setRef(t *testing.T, ref *sourcev1.GitRepositoryRef) {
	t.Helper()
	gr := &sourcev1.GitRepository{}
	require.NoError(t, p.prod.Client.Get(context.Background(), client.ObjectKey{Namespace: fakeflux.Namespace, Name: "flux-system"}, gr))
	gr.Spec.Reference = ref
	require.NoError(t, p.prod.Client.Update(context.Background(), gr))
}

// The pipeline's status: both environments Ready on the seed, the images each
// runs, and production behind staging by the images staging runs newer, not by
// commits (both applied the same one).
func TestRunComparesEachEnvironmentWithTheOneBefore(t *testing.T) {
	p := newPipeline(t)
	rep, err := Run(context.Background(), p.clients, Options{Envs: []flux.RefSpec{envOf("staging"), envOf("production")}})
	require.NoError(t, err)
	require.Len(t, rep.Environments, 2)
	stg, prod := rep.Environments[0], rep.Environments[1]
	for _, e := range rep.Environments {
		require.Empty(t, e.Error, e.Name)
		require.True(t, e.Ready, e.Name)
		require.Equal(t, "branch main", e.Ref, e.Name)
		require.Equal(t, "main", e.Branch, e.Name)
		require.Equal(t, "main@sha1:"+p.seed, e.AppliedRevision, e.Name)
		require.Equal(t, "flux-system/flux-system", e.GitRepository, e.Name)
		require.NotEmpty(t, e.Images, e.Name)
	}
	require.Empty(t, stg.BehindOf)
	require.Equal(t, stg.Name, prod.BehindOf)
	require.Len(t, prod.Behind, 2, "my-app and redis run older versions in production")
	require.NotNil(t, prod.BehindCommits)
	require.Zero(t, *prod.BehindCommits)
	require.True(t, rep.Ready())
}

// With SourceLag, each environment is compared with the branch it tracks: a commit
// pushed after the applied one is one commit of lag; no drift is computed.
func TestRunSourceLagCountsUnappliedCommits(t *testing.T) {
	p := newPipeline(t)
	work := filepath.Join(t.TempDir(), "w")
	_, err := gitserver.Git(p.bare, "worktree", "add", work, "main")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(work, "NOTES"), []byte("x\n"), 0o644))
	for _, args := range [][]string{{"add", "NOTES"}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-m", "notes"}} {
		_, err := gitserver.Git(work, args...)
		require.NoError(t, err)
	}
	rep, err := Run(context.Background(), p.clients, Options{Envs: []flux.RefSpec{envOf("staging"), envOf("production")}, SourceLag: true})
	require.NoError(t, err)
	for _, e := range rep.Environments {
		require.NotNil(t, e.SourceLag, e.Name)
		require.Equal(t, 1, *e.SourceLag, e.Name)
		require.Empty(t, e.BehindOf, e.Name)
	}
}

// A target following a semver range shows it, the tag of its applied revision, and a
// higher tag the range selects already.
func TestRunShowsTheTagsOfASemverTarget(t *testing.T) {
	p := newPipeline(t)
	for _, tag := range []string{"v1.0.0", "v1.1.0"} {
		_, err := gitserver.Git(p.bare, "tag", tag, p.seed)
		require.NoError(t, err)
	}
	p.setRef(t, &sourcev1.GitRepositoryRef{SemVer: ">=1.0.0"})
	rep, err := Run(context.Background(), p.clients, Options{Envs: []flux.RefSpec{envOf("production")}})
	require.NoError(t, err)
	e := rep.Environments[0]
	require.Equal(t, "semver >=1.0.0", e.Ref)
	require.Empty(t, e.Branch)
	require.Equal(t, "main", e.Tag, "the applied revision main@sha1:… names no tag")
	require.Equal(t, "v1.1.0", e.Selectable)
}

// An environment that cannot be read is shown with its error; one named ambiguously
// fails the run.
func TestRunShowsAnUnreadableEnvironment(t *testing.T) {
	p := newPipeline(t)
	missing := flux.RefSpec{Raw: "production/flux-system/nope", Ref: flux.Ref{Context: "production", Namespace: fakeflux.Namespace, Name: "nope"}}
	rep, err := Run(context.Background(), p.clients, Options{Envs: []flux.RefSpec{envOf("staging"), missing}})
	require.NoError(t, err)
	require.Contains(t, rep.Environments[1].Error, "not found")
	require.Equal(t, "staging,production/flux-system/nope", rep.Name)
}

// What a GitRepository's ref selects, in source-controller's order: a tag or a
// commit wins over a branch set beside it.
func TestRefLabel(t *testing.T) {
	for _, c := range []struct {
		ref           *sourcev1.GitRepositoryRef
		label, branch string
	}{
		{nil, "branch master", "master"},
		{&sourcev1.GitRepositoryRef{Branch: "main"}, "branch main", "main"},
		{&sourcev1.GitRepositoryRef{Branch: "main", Tag: "v1.0.0"}, "tag v1.0.0", ""},
		{&sourcev1.GitRepositoryRef{Branch: "main", SemVer: ">=1"}, "semver >=1", ""},
		{&sourcev1.GitRepositoryRef{Branch: "main", Commit: "abc123"}, "commit abc123", ""},
		{&sourcev1.GitRepositoryRef{Tag: "v1", SemVer: ">=1"}, "tag v1", ""},
		{&sourcev1.GitRepositoryRef{Name: "refs/tags/v2", Branch: "main"}, "tag v2", ""},
		{&sourcev1.GitRepositoryRef{Name: "refs/heads/release"}, "branch release", "release"},
		{&sourcev1.GitRepositoryRef{Name: "refs/pull/1/head"}, "ref refs/pull/1/head", ""},
	} {
		label, branch := refLabel(flux.RefOf(&sourcev1.GitRepository{Spec: sourcev1.GitRepositorySpec{Reference: c.ref}}))
		require.Equal(t, c.label, label, "%+v", c.ref)
		require.Equal(t, c.branch, branch, "%+v", c.ref)
	}
}

// Apps lists what an environment runs at its applied revision, for completing --app.
func TestApps(t *testing.T) {
	p := newPipeline(t)
	apps, err := Apps(context.Background(), p.clients, envOf("staging"), repo.Auth{}, "")
	require.NoError(t, err)
	require.Equal(t, []string{"my-app", "redis"}, apps)
}

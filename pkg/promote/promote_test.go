package promote

import (
	"errors"
	"fmt"
	"testing"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
)

func change(app, repo, from, to string) plan.Change {
	return plan.Change{Repository: repo, Apps: []string{app}, From: plan.ParseImage(repo + ":" + from), To: plan.ParseImage(repo + ":" + to)}
}

func TestSubject(t *testing.T) {
	one := []plan.Change{change("my-app", "ghcr.io/my-org/my-app", "1.0.0", "1.1.0")}
	require.Equal(t, "promote(production): my-app 1.0.0 → 1.1.0 from staging", Subject("production", "staging", one))
	two := append(one, change("redis", "docker.io/library/redis", "7.2.4", "7.2.5"))
	require.Equal(t, "promote(production): my-app 1.0.0 → 1.1.0, redis 7.2.4 → 7.2.5 from staging", Subject("production", "staging", two))
	var many []plan.Change
	for i := 0; i < 5; i++ {
		many = append(many, change(fmt.Sprint("app", i), fmt.Sprint("r/app", i), "1", "2"))
	}
	require.Equal(t, "promote(production): 5 images from staging", Subject("production", "staging", many))
	shared := plan.Change{Repository: "ghcr.io/my-org/sidecar", Apps: []string{"a", "b"}, From: plan.Image{Tag: "1"}, To: plan.Image{Digest: "sha256:ab"}}
	require.Equal(t, "promote(p): sidecar 1 → sha256:ab from s", Subject("p", "s", []plan.Change{shared}))
}

func TestSameRepository(t *testing.T) {
	require.True(t, sameRepository("https://git.example/fleet.git", "https://git.example/fleet/"))
	require.True(t, sameRepository("https://user:secret@git.example/fleet", "https://git.example/fleet.git"))
	require.False(t, sameRepository("https://git.example/fleet", "https://git.example/other"))
}

func TestTrackedBranch(t *testing.T) {
	env := func(ref *sourcev1.GitRepositoryRef) *flux.Environment {
		return &flux.Environment{Name: "production", Source: &sourcev1.GitRepository{Spec: sourcev1.GitRepositorySpec{Reference: ref}}}
	}
	b, err := trackedBranch(env(&sourcev1.GitRepositoryRef{Branch: "main"}))
	require.NoError(t, err)
	require.Equal(t, "main", b)
	b, err = trackedBranch(env(nil))
	require.NoError(t, err)
	require.Equal(t, "master", b)
	_, err = trackedBranch(env(&sourcev1.GitRepositoryRef{SemVer: ">=1.0.0"}))
	require.ErrorContains(t, err, "tracks semver range >=1.0.0: only branches are supported yet")
	_, err = trackedBranch(env(&sourcev1.GitRepositoryRef{Tag: "v1"}))
	require.ErrorContains(t, err, "tag v1")
}

func TestPickReverts(t *testing.T) {
	entries := []v1alpha1.HistoryEntry{
		{Kind: history.KindPromotion, Commit: "cccccccccc", State: history.StateCurrent},
		{Kind: history.KindRollback, Commit: "rrrrrrrrrr", State: history.StateSuperseded},
		{Kind: history.KindPromotion, Commit: "bbbbbbbbbb", State: history.StateRolledBack},
		{Kind: history.KindPromotion, Commit: "aaaaaaaaaa", State: history.StateSuperseded},
		{Kind: history.KindPromotion, Commit: "0000000000", State: history.StateSuperseded},
	}
	got, err := pickReverts(entries, "", "production")
	require.NoError(t, err)
	require.Equal(t, "cccccccccc", got[0].Commit)
	require.Len(t, got, 1)

	got, err = pickReverts(entries, "main@sha1:0000000000", "production")
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, []string{"cccccccccc", "aaaaaaaaaa"}, []string{got[0].Commit, got[1].Commit})

	_, err = pickReverts(entries, "ccccccc", "production")
	require.True(t, errors.Is(err, ErrNothingToRollBack))
	_, err = pickReverts(entries, "bbbbbbb", "production")
	require.ErrorContains(t, err, "no live promotion")
	_, err = pickReverts(entries, "abc", "production")
	require.ErrorContains(t, err, "at least 7 hex digits")
	_, err = pickReverts(nil, "", "production")
	require.True(t, errors.Is(err, ErrNothingToRollBack))
}

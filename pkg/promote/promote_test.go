package promote

import (
	"testing"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

func TestGitRef(t *testing.T) {
	repo := func(ref *sourcev1.GitRepositoryRef) *sourcev1.GitRepository {
		return &sourcev1.GitRepository{Spec: sourcev1.GitRepositorySpec{Reference: ref}}
	}
	require.Equal(t, flux.GitRef{Branch: "main"}, flux.RefOf(repo(&sourcev1.GitRepositoryRef{Branch: "main"})))
	require.Equal(t, flux.GitRef{Branch: "master"}, flux.RefOf(repo(nil)))
	require.Equal(t, "semver range >=1.0.0", flux.RefOf(repo(&sourcev1.GitRepositoryRef{SemVer: ">=1.0.0", Branch: "main"})).String())
	// source-controller's precedence: a tag wins over a semver range.
	require.Equal(t, "tag v1", flux.RefOf(repo(&sourcev1.GitRepositoryRef{Tag: "v1", SemVer: ">=1"})).String())
}

package promote

import (
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/release"
)

func strategyEnv(ctx, url, branch, path string) *flux.Environment {
	return &flux.Environment{
		Ref:           flux.Ref{Context: ctx, Namespace: "flux-system", Name: "apps"},
		Name:          ctx,
		Kustomization: &kustomizev1.Kustomization{Spec: kustomizev1.KustomizationSpec{Path: path}},
		Source: &sourcev1.GitRepository{Spec: sourcev1.GitRepositorySpec{URL: url,
			Reference: &sourcev1.GitRepositoryRef{Branch: branch}}},
	}
}

func strategyWorkspace(src, dst *flux.Environment) *Workspace {
	return &Workspace{Source: src, Target: dst, SourceRef: flux.RefOf(src.Source), TargetRef: flux.RefOf(dst.Source)}
}

func TestChooseStrategy(t *testing.T) {
	const url = "https://git.example.com/org/fleet.git"
	cases := []struct {
		name                     string
		srcBranch, dstBranch     string
		srcPath, dstPath         string
		want                     string
		ffOnly                   bool
		strategy, ff, errContain string
	}{
		{name: "seed layout", srcBranch: "main", dstBranch: "main", srcPath: "./apps/staging", dstPath: "./apps/production", strategy: StrategyImages},
		{name: "branch per env, different paths", srcBranch: "staging", dstBranch: "production", srcPath: "./apps/staging", dstPath: "./apps/production", strategy: StrategyImages},
		{name: "branch per env, different paths, forced revision", srcBranch: "staging", dstBranch: "production", srcPath: "./apps/staging", dstPath: "apps/production", want: "revision", strategy: StrategyRevision},
		{name: "branch per env, same path", srcBranch: "staging", dstBranch: "production", srcPath: "./apps", dstPath: "apps/", strategy: StrategyRevision},
		{name: "same path, ff-only", srcBranch: "staging", dstBranch: "production", srcPath: "./apps", dstPath: "./apps", ffOnly: true, strategy: StrategyRevision, ff: "ff"},
		{name: "same path, forced images", srcBranch: "staging", dstBranch: "production", srcPath: "./apps", dstPath: "./apps", want: "images", strategy: StrategyImages},
		{name: "images with ff-only", srcBranch: "staging", dstBranch: "production", srcPath: "./apps", dstPath: "./apps", want: "images", ffOnly: true, errContain: "--ff-only"},
		{name: "different paths default with ff-only", srcBranch: "staging", dstBranch: "production", srcPath: "./a", dstPath: "./b", ffOnly: true, errContain: "--ff-only"},
		{name: "revision on one branch", srcBranch: "main", dstBranch: "main", srcPath: "./a", dstPath: "./b", want: "revision", errContain: "no commit to move"},
		{name: "same branch same path", srcBranch: "main", dstBranch: "main", srcPath: "./apps", dstPath: "apps", errContain: "already run the same files"},
		{name: "unknown strategy", srcBranch: "staging", dstBranch: "production", srcPath: "./a", dstPath: "./b", want: "cherry-pick", errContain: `--strategy "cherry-pick"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := strategyWorkspace(strategyEnv("staging", url, c.srcBranch, c.srcPath), strategyEnv("production", url, c.dstBranch, c.dstPath))
			s, err := choose(w, c.want, c.ffOnly, TagOptions{})
			if c.errContain != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.errContain)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.strategy, s.Name())
			if rs, ok := s.(revisionStrategy); ok {
				assert.Equal(t, c.ff == "ff", rs.ffOnly)
			}
		})
	}
}

func TestChooseStrategyRefusesOtherRepository(t *testing.T) {
	w := strategyWorkspace(strategyEnv("staging", "git@github.com:org/fleet.git", "staging", "./apps"),
		strategyEnv("production", "https://github.com/org/other", "production", "./apps"))
	_, err := choose(w, "", false, TagOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "promoting between repositories is not supported")

	// The same repository written two ways is the same.
	w = strategyWorkspace(strategyEnv("staging", "ssh://git@GitHub.com/org/fleet.git", "staging", "./apps"),
		strategyEnv("production", "https://github.com/org/fleet/", "production", "./apps"))
	s, err := choose(w, "", false, TagOptions{})
	require.NoError(t, err)
	assert.Equal(t, StrategyRevision, s.Name())
}

func TestChooseStrategyPinnedTagTarget(t *testing.T) {
	src := strategyEnv("staging", "https://h/x", "staging", "./apps/staging")
	for _, ref := range []sourcev1.GitRepositoryRef{{Tag: "v1.0.0"}, {Name: "refs/tags/v1.0.0"}} {
		dst := strategyEnv("production", "https://h/x", "", "./apps/production")
		dst.Source.Spec.Reference = &ref
		s, err := choose(strategyWorkspace(src, dst), "", false, TagOptions{})
		require.NoError(t, err)
		assert.Equal(t, StrategyPinnedTag, s.Name())
		assert.Equal(t, "v1.0.0", s.(tagStrategy).pinned)
		_, err = choose(strategyWorkspace(src, dst), StrategyImages, false, TagOptions{})
		require.ErrorContains(t, err, "use --strategy tag")
	}
	// A ref name that is no tag is still refused.
	dst := strategyEnv("production", "https://h/x", "", "./apps")
	dst.Source.Spec.Reference = &sourcev1.GitRepositoryRef{Name: "refs/heads/main"}
	_, err := choose(strategyWorkspace(src, dst), "", false, TagOptions{})
	require.ErrorContains(t, err, "ref refs/heads/main")
}

func TestChooseStrategySemverTarget(t *testing.T) {
	semverEnv := func(path string) *flux.Environment {
		dst := strategyEnv("production", "https://h/x", "", path)
		dst.Source.Spec.Reference = &sourcev1.GitRepositoryRef{SemVer: ">=1.0.0 <2.0.0"}
		return dst
	}
	src := strategyEnv("staging", "https://h/x", "main", "./apps/staging")
	s, err := choose(strategyWorkspace(src, semverEnv("./apps/production")), "", false, TagOptions{Bump: release.BumpMinor})
	require.NoError(t, err)
	assert.Equal(t, StrategyTag, s.Name())
	assert.Equal(t, release.BumpMinor, s.(tagStrategy).Bump)
	assert.False(t, s.(tagStrategy).samePath)
	s, err = choose(strategyWorkspace(src, semverEnv("apps/staging/")), "", false, TagOptions{})
	require.NoError(t, err)
	assert.True(t, s.(tagStrategy).samePath, "the whole tree is the environment: the applied commit is tagged")

	for _, c := range []struct {
		path, want string
		ff         bool
		tag        TagOptions
		err        string
	}{
		{path: "./apps/staging", tag: TagOptions{Branch: "release"}, err: "--branch and --include-unreleased do not apply"},
		{path: "./apps/production", want: StrategyImages, err: "only a new tag reaches"},
		{path: "./apps/production", ff: true, err: "--ff-only"},
		{path: "./apps/production", tag: TagOptions{Bump: "micro"}, err: `--bump "micro"`},
		{path: "./apps/production", tag: TagOptions{Bump: release.BumpMajor, Tag: "v1.9.0"}, err: "cannot be combined with --bump"},
	} {
		_, err := choose(strategyWorkspace(src, semverEnv(c.path)), c.want, c.ff, c.tag)
		assert.ErrorContains(t, err, c.err)
	}
	// The tag flags on a branch target say what they are for.
	_, err = choose(strategyWorkspace(src, strategyEnv("production", "https://h/x", "main", "./apps/production")), "", false, TagOptions{IncludeUnreleased: true})
	assert.ErrorContains(t, err, "follows a semver range")
}

// choose is the strategy load picks for one target with --ff-only as given: the
// source's choice, then the registry's refusals.
func choose(w *Workspace, want string, ffOnly bool, tag TagOptions) (Strategy, error) {
	s, err := chooseStrategy(w, want, ffOnly, tag)
	if err != nil {
		return nil, err
	}
	return s, refuse(s, w, modes{ffOnly: ffOnly})
}

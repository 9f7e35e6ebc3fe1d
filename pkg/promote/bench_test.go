package promote

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// benchLayout is one seed layout to plan a promotion on: the branch each
// environment tracks and the path its apps Kustomization reads.
type benchLayout struct {
	name                 string
	srcBranch, dstBranch string
	srcPath, dstPath     string
}

var benchLayouts = []benchLayout{
	{"same branch (seed)", "main", "main", "./apps/staging", "./apps/production"},
	{"branch per env, different paths", "staging", "production", "./apps/staging", "./apps/production"},
	{"branch per env, same path (merge)", "staging", "production", "./apps/staging", "./apps/staging"},
}

// benchRepo serves the seed with branches staging (one commit ahead: my-app 1.2.0)
// and production.
func benchRepo(tb testing.TB) (url, stagingHead string) {
	tb.Helper()
	dir := tb.TempDir()
	require.NoError(tb, seed.Write(dir, seed.Options{}))
	srv := gitserver.NewForTest(tb, gitserver.Options{})
	sha, err := srv.Init("fleet.git", dir, "main")
	require.NoError(tb, err)
	bare := srv.Dir("fleet.git")
	for _, b := range []string{"staging", "production"} {
		_, err := gitserver.Git(bare, "branch", b, sha)
		require.NoError(tb, err)
	}
	work := filepath.Join(tb.TempDir(), "work")
	_, err = gitserver.Git(filepath.Dir(work), "clone", "--quiet", "--branch", "staging", bare, work)
	require.NoError(tb, err)
	k := filepath.Join(work, "apps/staging/kustomization.yaml")
	data, err := os.ReadFile(k)
	require.NoError(tb, err)
	require.NoError(tb, os.WriteFile(k, []byte(string(data)+"\n"), 0o644))
	for _, args := range [][]string{{"-c", "user.name=b", "-c", "user.email=b@x", "commit", "--quiet", "-am", "staging"}, {"push", "--quiet", "origin", "staging"}} {
		_, err := gitserver.Git(work, args...)
		require.NoError(tb, err)
	}
	head, err := gitserver.Git(work, "rev-parse", "HEAD")
	require.NoError(tb, err)
	return srv.URL("fleet.git"), head
}

func benchEnv(tb testing.TB, name, url, branch, path string) *flux.Environment {
	var ks kustomizev1.Kustomization
	require.NoError(tb, yaml.Unmarshal([]byte(fmt.Sprintf("metadata: {name: apps, namespace: flux-system}\nspec: {path: %q, interval: 10m, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}\n", path)), &ks))
	return &flux.Environment{
		Ref: flux.Ref{Context: name, Namespace: "flux-system", Name: "apps"}, Name: name,
		Cluster:       &flux.Cluster{Context: name},
		Kustomization: &ks,
		Source:        &sourcev1.GitRepository{Spec: sourcev1.GitRepositorySpec{URL: url, Reference: &sourcev1.GitRepositoryRef{Branch: branch}}},
	}
}

// planOnce opens the repository, checks out the source's applied commit and plans
// with the strategy the layout calls for: the planning phases of a promotion (fetch
// and plan), without the clusters.
func planOnce(ctx context.Context, tb testing.TB, l benchLayout, url, stagingHead, initial string) *Proposal {
	src := benchEnv(tb, "staging", url, l.srcBranch, l.srcPath)
	dst := benchEnv(tb, "production", url, l.dstBranch, l.dstPath)
	applied := stagingHead
	if l.srcBranch == "main" {
		applied = initial
	}
	w := &Workspace{Source: src, Target: dst, SourceRef: flux.RefOf(src.Source), TargetRef: flux.RefOf(dst.Source),
		SourceRevision: l.srcBranch + "@sha1:" + applied, SourceCommit: applied}
	defer w.close()
	s, err := chooseStrategy(w, "", false, TagOptions{})
	require.NoError(tb, err)
	require.NoError(tb, gitRepositorySource{}.Open(ctx, w, openOptions{progress: nopProgress{}}))
	c, err := s.Plan(ctx, w)
	require.NoError(tb, err)
	require.False(tb, c.empty(), l.name)
	return c
}

type nopProgress struct{}

func (nopProgress) Doing(string, ...any)   {}
func (nopProgress) Done(string, ...any)    {}
func (nopProgress) Waiting(string, ...any) {}
func (nopProgress) Failed(string, ...any)  {}

func BenchmarkPlanSeedLayouts(b *testing.B) {
	url, head := benchRepo(b)
	initial, err := gitserver.Git(".", "ls-remote", url, "refs/heads/main")
	require.NoError(b, err)
	initial = initial[:40]
	for _, l := range benchLayouts {
		b.Run(l.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				planOnce(context.Background(), b, l, url, head, initial)
			}
		})
	}
}

// TestBranchPlanningOverhead is `make bench`'s report on issue 9: the median time to
// plan a promotion on the seed for each layout, alternating the layouts round by
// round, and each branch layout's ratio to the same-branch one, which must stay
// within 1.2. BENCH_BRANCHES=1 runs it; BENCH_ROUNDS sets the rounds (default 15).
func TestBranchPlanningOverhead(t *testing.T) {
	if os.Getenv("BENCH_BRANCHES") == "" {
		t.Skip("set BENCH_BRANCHES=1 (make bench)")
	}
	rounds := 15
	if n, err := fmt.Sscan(os.Getenv("BENCH_ROUNDS"), &rounds); n == 0 || err != nil {
		rounds = 15
	}
	url, head := benchRepo(t)
	initial, err := gitserver.Git(".", "ls-remote", url, "refs/heads/main")
	require.NoError(t, err)
	initial = initial[:40]
	ctx := context.Background()
	times := make([][]time.Duration, len(benchLayouts))
	for i, l := range benchLayouts {
		planOnce(ctx, t, l, url, head, initial) // warm up
		times[i] = nil
	}
	for r := 0; r < rounds; r++ {
		for i, l := range benchLayouts {
			start := time.Now()
			planOnce(ctx, t, l, url, head, initial)
			times[i] = append(times[i], time.Since(start))
		}
	}
	base := timing.Median(times[0])
	fmt.Printf("Planning a promotion on the seed repository (fetch, checkouts, renders, plan), median of %d rounds:\n", rounds)
	for i, l := range benchLayouts {
		m := timing.Median(times[i])
		fmt.Printf("  %-36s %8.1f ms  ratio %.2f\n", l.name, float64(m.Microseconds())/1000, float64(m)/float64(base))
		if i > 0 && float64(m) > 1.2*float64(base) {
			t.Errorf("%s: median %v is more than 1.2x the same-branch %v", l.name, m, base)
		}
	}
}

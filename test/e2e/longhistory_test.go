package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// A repository with a long history, kept in a repository cache of its own
// (XDG_CACHE_HOME in a temporary directory, never the user's):
//
//   - both environments applied a commit with 5,000 commits behind it, and 300 more
//     commits Flux has not applied are on the branch: the source's applied commit is
//     outside the first, depth-1 fetch, the promotion deepens to it, and no further
//     (the cache stays shallow, without the first commit);
//   - 5,000 more commits land on top of the promotion: history finds it that deep,
//     and a rollback reverts it, through a cache whose packs were truncated (rebuilt);
//   - two promotions at once share the cache: both succeed, one commit lands.
//
// The history is written with git fast-import in the served repository
// (gitserver.AddHistory), not one process per commit.
func TestLongHistoryThroughTheCache(t *testing.T) {
	parallel(t)
	ctx := context.Background()
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	applied, err := gitserver.AddHistory(f.Git.Dir(fleet.Repo), fleet.Branch, 5000)
	require.NoError(t, err)
	for _, env := range f.Envs {
		require.NoError(t, f.Reconcile(ctx, env))
		require.NoError(t, f.Settle(ctx, env, applied))
	}
	tip, err := gitserver.AddHistory(f.Git.Dir(fleet.Repo), fleet.Branch, 300)
	require.NoError(t, err)

	cache := t.TempDir()
	run := func(args ...string) result {
		return kubectl(t, f.Kubeconfig, []string{"XDG_CACHE_HOME=" + cache}, append([]string{"promote"}, args...)...)
	}
	repos := filepath.Join(cache, "kubectl-promote", "repos")
	cached := func(sha string) bool {
		dirs, err := filepath.Glob(filepath.Join(repos, "*"))
		require.NoError(t, err)
		for _, d := range dirs {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				_, err := gitserver.Git(d, "cat-file", "-e", sha+"^{commit}")
				return err == nil
			}
		}
		t.Fatalf("no cached repository under %s", repos)
		return false
	}

	// The source is the commit both environments applied, 300 behind the head the
	// promotion goes onto: fetched by deepening (to 4,096), not with the whole history.
	r := run("apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.Equal(t, fleet.Revision(applied), d.Source.Revision, "the source is the commit staging applied")
	require.Equal(t, tip, d.Commit.Parent, "the promotion is on the branch head")
	require.Equal(t, d.Commit.SHA, head(t, f))
	require.NotNil(t, d.Reconcile, r.String())
	require.Equal(t, fleet.Revision(d.Commit.SHA), d.Reconcile.AppliedRevision)
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	locks, err := filepath.Glob(filepath.Join(repos, "*.lock"))
	require.NoError(t, err)
	require.Len(t, locks, 1, "one cached repository")
	require.True(t, cached(applied), "the cache holds the source commit")
	require.False(t, cached(f.Initial), "the cache does not hold the first commit, 5,301 behind the head: the deepening stopped at 4,096")
	promoted := d.Commit.SHA

	// 5,000 commits on top: history reads back to the promotion.
	_, err = gitserver.AddHistory(f.Git.Dir(fleet.Repo), fleet.Branch, 5000)
	require.NoError(t, err)
	r = run("history", prod, "--kustomization", "apps", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	var h historyDoc
	decodeLoose(t, r, "History", &h)
	require.NotEmpty(t, h.Entries, r.String())
	require.Equal(t, promoted, h.Entries[0].Commit, r.String())
	require.Equal(t, "promotion", h.Entries[0].Kind, r.String())

	// A corrupted cache (every pack truncated) is rebuilt, and the rollback reverts
	// the promotion 5,000 commits deep.
	packs, err := filepath.Glob(filepath.Join(repos, "*", "objects", "pack", "*.pack"))
	require.NoError(t, err)
	require.NotEmpty(t, packs)
	for _, p := range packs {
		require.NoError(t, os.Truncate(p, 32))
	}
	r = run("rollback", prod, "--kustomization", "apps", "--wait", "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	rb := parseRollback(t, r)
	require.Equal(t, "rolled-back", rb.Outcome, r.String())
	require.Contains(t, r.Stderr, "was unreadable (", "the rebuild is told: the run paid for a full fetch")
	require.Len(t, rb.Reverted, 1, r.String())
	require.Equal(t, promoted, rb.Reverted[0].Commit)
	requireSameTree(t, f, tip, head(t, f), "apps/production", "the rollback restores production as it was before the promotion")
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	for _, p := range packs {
		fi, err := os.Stat(p)
		require.False(t, err == nil && fi.Size() == 32, "truncated pack %s still in the cache", filepath.Base(p))
	}
	require.True(t, cached(promoted), "the rebuilt cache holds what the rollback read")

	// Two promotions at once on the same cache: both succeed, one pushes the
	// promotion, and the branch has it once.
	before := head(t, f)
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = run("apps", "--from", staging, "--to", prod, "--yes", "-o", "json") })
	}
	wg.Wait()
	pushed := 0
	for _, r := range results {
		require.Equal(t, 0, r.Code, r.String())
		if strings.Contains(r.Stderr, "✔ pushed") {
			pushed++
		}
	}
	require.Equal(t, 1, pushed, "one of the two pushes:\n%s\n%s", results[0], results[1])
	require.Equal(t, before, gitRun(t, f, "rev-parse", head(t, f)+"^"), "one promotion commit on top, not two")
	require.Contains(t, fileAt(t, f, head(t, f), "apps/production/kustomization.yaml"), "1.1.0")
}

package e2e

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// A repository with a long history, kept in a repository cache of its own: the
// source's applied commit is 3,000 commits behind the branch head (Flux has not
// applied the newer ones), outside the first, depth-1 fetch, and the promotion
// deepens to it; history and rollback read the long history; a corrupted cache is
// rebuilt; two promotions at once share the cache.
func TestLongHistoryThroughTheCache(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	applied := head(t, f)
	tip, err := gitserver.AddHistory(f.Git.Dir(fleet.Repo), fleet.Branch, 3000)
	require.NoError(t, err)
	cache := t.TempDir()
	env := []string{"XDG_CACHE_HOME=" + cache}
	run := func(args ...string) result {
		return kubectl(t, f.Kubeconfig, env, append([]string{"promote"}, args...)...)
	}

	// The source is staging's applied commit, 3,000 behind the head it goes onto.
	r := run("apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	d := requirePromoted(t, f, r, tip)
	require.Equal(t, fleet.Revision(applied), d.Source.Revision, "the source is the commit staging applied")
	repos, err := filepath.Glob(filepath.Join(cache, "kubectl-promote", "repos", "*.lock"))
	require.NoError(t, err)
	require.Len(t, repos, 1, "one cached repository")
	promoted := d.Commit.SHA

	// History reads the long branch and finds the promotion.
	r = run("history", prod, "--kustomization", "apps", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	var h historyDoc
	decodeLoose(t, r, "History", &h)
	require.NotEmpty(t, h.Entries, r.String())
	require.Equal(t, promoted, h.Entries[0].Commit)

	// A corrupted cache (every pack truncated) is rebuilt: the rollback works.
	packs, err := filepath.Glob(filepath.Join(cache, "kubectl-promote", "repos", "*", "objects", "pack", "*.pack"))
	require.NoError(t, err)
	require.NotEmpty(t, packs)
	for _, p := range packs {
		require.NoError(t, os.Truncate(p, 32))
	}
	r = run("rollback", prod, "--kustomization", "apps", "--wait", "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	rb := parseRollback(t, r)
	require.Equal(t, "rolled-back", rb.Outcome, r.String())
	require.Equal(t, promoted, rb.Reverted[0].Commit)

	// Two promotions at once on the same cache: both succeed, one pushes the
	// promotion, and the branch has it once.
	before := head(t, f)
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = run("apps", "--from", staging, "--to", prod, "--yes", "-o", "json") })
	}
	wg.Wait()
	for _, r := range results {
		require.Equal(t, 0, r.Code, r.String())
	}
	require.Equal(t, before, gitRun(t, f, "rev-parse", head(t, f)+"^"), "one promotion commit on top, not two")
}

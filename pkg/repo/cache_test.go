package repo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

// longFixture is a fixture whose main has n commits on top of the seed.
func longFixture(t *testing.T, n int) (*fixture, string) {
	t.Helper()
	f := newFixture(t, gitserver.Options{})
	head, err := gitserver.AddHistory(f.bare, "main", n)
	require.NoError(t, err)
	return f, head
}

func commitCount(t *testing.T, r *Repo) int {
	t.Helper()
	iter, err := r.git.CommitObjects()
	require.NoError(t, err)
	n := 0
	require.NoError(t, iter.ForEach(func(*object.Commit) error { n++; return nil }))
	return n
}

// Open fetches the tips only; reading an old commit, or the whole log, deepens the
// repository as far as the read needs, and no further than the next step.
func TestOpenIsShallowAndDeepensOnDemand(t *testing.T) {
	f, head := longFixture(t, 600)
	r := f.open(t, Options{CacheDir: t.TempDir()})
	assert.Equal(t, 1, commitCount(t, r), "only the tip of main")
	got, err := r.BranchHead(t.Context(), "main")
	require.NoError(t, err)
	assert.Equal(t, head, got)

	// The seed's commit is 600 back: checking it out deepens to 4096 (the whole history).
	require.NoError(t, r.Checkout(t.Context(), f.seed, filepath.Join(t.TempDir(), "seed")))
	assert.Equal(t, 601, commitCount(t, r))
	shallow, err := r.git.Storer.Shallow()
	require.NoError(t, err)
	assert.Empty(t, shallow, "the whole history is there: not shallow any more")

	// A commit 10 back needs one step (16) on a fresh cache.
	r2 := f.open(t, Options{CacheDir: t.TempDir()})
	tenBack := f.git(t, "rev-parse", "main~10")
	ok, err := r2.IsAncestor(t.Context(), tenBack, head)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 16, commitCount(t, r2))

	// A log over the whole branch gets every commit.
	log, err := r2.Log(t.Context(), "main", LogOptions{})
	require.NoError(t, err)
	assert.Len(t, log, 601)
	assert.Equal(t, f.seed, log[600].SHA)

	// Not an ancestor: walks the whole history, then says no.
	f.git(t, "branch", "side", f.seed)
	other := f.pushFile(t, "side", "x.txt", "x\n", "side")
	require.NoError(t, r2.Fetch(t.Context()))
	ok, err = r2.IsAncestor(t.Context(), other, head)
	require.NoError(t, err)
	assert.False(t, ok)
}

// Asking whether a newer commit is an ancestor of an older one (a promotion against
// the revision Flux fetched before it) says no as far back as the older one is, and
// does not deepen to the root.
func TestIsAncestorOfAnOlderCommitStaysShallow(t *testing.T) {
	f, head := longFixture(t, 5000)
	r := f.open(t, Options{CacheDir: t.TempDir()})
	older := f.git(t, "rev-parse", "main~300")
	ok, err := r.IsAncestor(t.Context(), head, older)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, 4096, commitCount(t, r), "deepened as far as main~300 needs (4,096), not to the root (5,001)")
	ok, err = r.IsAncestor(t.Context(), older, head)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 4096, commitCount(t, r))
}

// A push from the shallow repository lands with its parent, nothing forced, and a
// later run fetches only what changed into the cache.
func TestCachePushAndWarmRun(t *testing.T) {
	f, head := longFixture(t, 300)
	cache := t.TempDir()
	r := f.open(t, Options{CacheDir: cache})
	res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		return &CommitSpec{Message: "promote", Author: testAuthor}, nil
	}, PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, head, res.Parent)
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "main"))
	assert.Equal(t, head, f.git(t, "rev-parse", "main^"))
	assert.Equal(t, "302", f.git(t, "rev-list", "--count", "main"))
	require.NoError(t, r.Close())

	entries, err := os.ReadDir(cache)
	require.NoError(t, err)
	require.Len(t, entries, 3, "one repository, its lock and the time of the last prune")

	other := f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "by hand")
	r2 := f.open(t, Options{CacheDir: cache})
	assert.Equal(t, r.cacheDir, r2.cacheDir, "the same cache")
	got, err := r2.BranchHead(t.Context(), "main")
	require.NoError(t, err)
	assert.Equal(t, other, got)
	ok, err := r2.IsAncestor(t.Context(), res.Commit, other)
	require.NoError(t, err)
	assert.True(t, ok, "the new tip sits on the cached history")
	assert.LessOrEqual(t, commitCount(t, r2), 4, "warm: the new tip and what the first run had")
}

// A cache whose refs name objects it does not hold, or that is not a repository at
// all, is rebuilt; deleting the cache is always safe.
func TestCorruptCacheIsRebuilt(t *testing.T) {
	f, head := longFixture(t, 20)
	cache := t.TempDir()
	r := f.open(t, Options{CacheDir: cache})
	dir := r.cacheDir
	require.NoError(t, r.Close())

	corruptions := map[string]func(){
		"packs truncated": func() {
			packs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
			require.NoError(t, err)
			require.NotEmpty(t, packs)
			for _, p := range packs {
				require.NoError(t, os.Truncate(p, 40))
			}
		},
		"ref to a missing object": func() {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "refs", "remotes", "origin", "main"), []byte(strings.Repeat("ab", 20)+"\n"), 0o644))
		},
		"not a repository": func() {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "HEAD")))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "config"), []byte("[[[garbage"), 0o644))
		},
		"deleted": func() { require.NoError(t, os.RemoveAll(cache)) },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			corrupt()
			r := f.open(t, Options{CacheDir: cache})
			if name == "deleted" {
				assert.NoError(t, r.Rebuilt(), "a deleted cache is made anew, nothing to report")
			} else if assert.Error(t, r.Rebuilt()) {
				assert.Contains(t, r.Rebuilt().Error(), "the cached copy of "+f.url+" in "+dir+" was unreadable (")
			}
			got, err := r.BranchHead(t.Context(), "main")
			require.NoError(t, err)
			assert.Equal(t, head, got)
			require.NoError(t, r.Checkout(t.Context(), f.seed, filepath.Join(t.TempDir(), "seed")))
			require.NoError(t, r.Close())
			again := f.open(t, Options{CacheDir: cache})
			assert.NoError(t, again.Rebuilt(), "the rebuilt cache is sound")
		})
	}
}

// Two Repos on one cache, working at once (each operation locks it): both pushes
// land and both see a sound cache.
func TestCacheSharedByConcurrentRepos(t *testing.T) {
	f, _ := longFixture(t, 50)
	cache := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			r, err := Open(t.Context(), Options{URL: f.url, CacheDir: cache})
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			_, errs[i] = r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
				writeFile(t, dir, "clusters/production/w"+string(rune('a'+i))+".yaml", "w\n")
				return &CommitSpec{Message: "writer", Author: testAuthor}, nil
			}, PushOptions{Backoff: 1, MaxAttempts: 10})
			if errs[i] == nil {
				_, errs[i] = r.Log(t.Context(), "main", LogOptions{Limit: 60})
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, "55", f.git(t, "rev-list", "--count", "main"))
	r := f.open(t, Options{CacheDir: cache})
	assert.NoError(t, r.Rebuilt())
}

// Without a cache (NoCache) Open clones shallow into a temporary directory that
// Close removes.
func TestNoCacheIsTemporaryAndShallow(t *testing.T) {
	f, head := longFixture(t, 100)
	r := f.open(t, Options{CacheDir: NoCache})
	require.NotEmpty(t, r.tmp)
	assert.Equal(t, 1, commitCount(t, r))
	c, err := r.Log(t.Context(), head, LogOptions{Limit: 30})
	require.NoError(t, err)
	assert.Len(t, c, 30)
	tmp := r.tmp
	require.NoError(t, r.Close())
	assert.NoDirExists(t, tmp)
}

// A cache whose history packs are damaged while its refs name sound (loose)
// objects, as after a push: Open finds it out and rebuilds it.
func TestCacheWithDamagedPackBehindLooseRefsIsRebuilt(t *testing.T) {
	f, _ := longFixture(t, 20)
	cache := t.TempDir()
	r := f.open(t, Options{CacheDir: cache})
	res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		return &CommitSpec{Message: "promote", Author: testAuthor}, nil
	}, PushOptions{})
	require.NoError(t, err)
	dir := r.cacheDir
	require.NoError(t, r.Close())
	packs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
	require.NoError(t, err)
	require.NotEmpty(t, packs)
	for _, p := range packs {
		require.NoError(t, os.Truncate(p, 32))
	}
	r = f.open(t, Options{CacheDir: cache})
	assert.Error(t, r.Rebuilt())
	log, err := r.Log(t.Context(), "main", LogOptions{Limit: 3})
	require.NoError(t, err)
	assert.Equal(t, res.Commit, log[0].SHA)
}

// Range lists base..tip exactly, on any shape of history: merges, branches that fork
// and join, and commits dated before their ancestors by up to maxClockSkew, as a
// committer's clock that is behind makes them (git's own rev-list gets some of these
// wrong: it stops five commits after the range).
func TestRangeMatchesRevList(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	bare, err := git.PlainOpen(f.bare)
	require.NoError(t, err)
	seed, err := bare.CommitObject(plumbing.NewHash(f.seed))
	require.NoError(t, err)
	rnd := rand.New(rand.NewPCG(1, 2))
	commits := []plumbing.Hash{seed.Hash}
	when := seed.Committer.When
	dates := map[plumbing.Hash]time.Time{seed.Hash: when} // and of each commit's newest ancestor:
	ancestors := map[plumbing.Hash]time.Time{seed.Hash: when}
	for i := range 80 {
		parents := []plumbing.Hash{commits[len(commits)-1-rnd.IntN(min(len(commits), 6))]}
		if rnd.IntN(4) == 0 {
			parents = append(parents, commits[rnd.IntN(len(commits))])
		}
		when = when.Add(time.Minute)
		date := when
		newest := seed.Committer.When // of its ancestors
		for _, p := range parents {
			newest = latest(newest, dates[p], ancestors[p])
		}
		if rnd.IntN(5) == 0 { // older than some ancestors, as a clock behind makes it
			date = newest.Add(-maxClockSkew + time.Second)
		}
		sig := object.Signature{Name: "dag", Email: "dag@example.invalid", When: date}
		c := &object.Commit{Author: sig, Committer: sig, Message: fmt.Sprintf("c%d\n", i), TreeHash: seed.TreeHash, ParentHashes: parents}
		obj := bare.Storer.NewEncodedObject()
		require.NoError(t, c.Encode(obj))
		h, err := bare.Storer.SetEncodedObject(obj)
		require.NoError(t, err)
		commits, dates[h], ancestors[h] = append(commits, h), date, newest
		require.NoError(t, bare.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(fmt.Sprintf("c%d", i)), h)))
	}
	r := f.open(t, Options{CacheDir: t.TempDir()})
	for range 60 {
		base, tip := commits[rnd.IntN(len(commits))].String(), commits[rnd.IntN(len(commits))].String()
		got, n, err := r.Range(t.Context(), base, tip, 0)
		require.NoError(t, err)
		want := revList(t, f, tip, base)
		var shas []string
		for _, c := range got {
			shas = append(shas, c.SHA)
		}
		slices.Sort(shas)
		assert.Equal(t, want, shas, "%s..%s", base, tip)
		assert.Equal(t, len(want), n)
	}
}

func latest(times ...time.Time) time.Time {
	return slices.MaxFunc(times, time.Time.Compare)
}

// revList is the set "git rev-list tip ^base" computed the slow, exact way: all of
// tip's ancestors less all of base's, sorted.
func revList(t *testing.T, f *fixture, tip, base string) []string {
	exclude := map[string]bool{}
	for _, s := range strings.Fields(f.git(t, "rev-list", base)) {
		exclude[s] = true
	}
	var out []string
	for _, s := range strings.Fields(f.git(t, "rev-list", tip)) {
		if !exclude[s] {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// A range near the tip reads about as many commits as it holds: "git log
// applied..head" on a fresh cache of a 5,000-commit branch deepens one step (16), not
// to the root.
func TestRangeStaysShallow(t *testing.T) {
	f, head := longFixture(t, 5000)
	r := f.open(t, Options{CacheDir: t.TempDir()})
	_, n, err := r.Range(t.Context(), head, head, 1)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, 1, commitCount(t, r), "nothing between a commit and itself: nothing fetched")
	tenBack := f.git(t, "rev-parse", "main~10")
	got, n, err := r.Range(t.Context(), tenBack, head, 3)
	require.NoError(t, err)
	assert.Equal(t, 10, n)
	require.Len(t, got, 3)
	assert.Equal(t, head, got[0].SHA)
	assert.Equal(t, 16, commitCount(t, r), "one deepening step, not the whole history")
	_, n, err = r.Range(t.Context(), head, tenBack, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "an ancestor has nothing its descendant lacks")
	assert.Equal(t, 16, commitCount(t, r))
}

// A cached repository unused for 30 days is deleted by a later run, at most once a
// day, never while another run holds it, and never the one the run opens.
func TestUnusedCachesArePruned(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	root := t.TempDir()
	now := time.Now()
	caches := map[string]time.Duration{"old": 40 * 24 * time.Hour, "held": 40 * 24 * time.Hour, "recent": 10 * 24 * time.Hour}
	for name, age := range caches {
		require.NoError(t, os.MkdirAll(filepath.Join(root, name, "objects"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, name+".lock"), nil, 0o600))
		require.NoError(t, os.Chtimes(filepath.Join(root, name+".lock"), now.Add(-age), now.Add(-age)))
	}
	held, err := openFileLock(filepath.Join(root, "held.lock"))
	require.NoError(t, err)
	ok, err := held.tryLock()
	require.NoError(t, err)
	require.True(t, ok)

	// A run opening a repository prunes; its own cache, as old as the others, stays.
	r := f.open(t, Options{CacheDir: root})
	mine := r.cacheDir
	require.NoError(t, r.Close())
	old := now.Add(-40 * 24 * time.Hour)
	require.NoError(t, os.Chtimes(mine+".lock", old, old))
	require.NoError(t, os.Remove(filepath.Join(root, ".pruned")))
	r = f.open(t, Options{CacheDir: root})
	require.NoError(t, r.Close())

	assert.NoDirExists(t, filepath.Join(root, "old"), "unused for 40 days: deleted")
	assert.FileExists(t, filepath.Join(root, "old.lock"), "the lock file stays for runs that opened it")
	assert.DirExists(t, filepath.Join(root, "held"), "another run holds it")
	assert.DirExists(t, filepath.Join(root, "recent"))
	assert.DirExists(t, mine, "the run's own cache")
	fi, err := os.Stat(mine + ".lock")
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), fi.ModTime(), time.Minute, "opening marks it used")

	// Once released, it goes at the next look, which is a day later, not sooner.
	require.NoError(t, held.unlock())
	require.NoError(t, held.close())
	pruneCaches(root, "", time.Now())
	assert.DirExists(t, filepath.Join(root, "held"), "looked less than a day ago")
	pruneCaches(root, "", time.Now().Add(25*time.Hour))
	assert.NoDirExists(t, filepath.Join(root, "held"))
	assert.DirExists(t, filepath.Join(root, "recent"))
}

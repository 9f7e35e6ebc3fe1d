package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// # The repository cache
//
// Without Options.RepoDir, a repository is kept between runs in a bare repository of
// its own under the cache directory (Options.CacheDir, else the user's cache
// directory, os.UserCacheDir()/kubectl-promote/repos), named by a hash of its URL
// without credentials. It is shallow: fetches are depth 1 and history is deepened
// only when a read needs it (see history), so a run costs the size of the trees it
// reads, not of the history, and a warm run fetches only what changed.
//
// Several runs, in one process or several, share it: every operation of a Repo holds
// an exclusive lock on <hash>.lock beside it for its own duration (a fetch, a log, a
// push), not for the whole run, and reopens the object store when another run added
// packs since. Nothing in it is ever rewritten in place: go-git only adds objects,
// packs and refs. A cache that does not open, or whose refs name objects it does not
// hold, is deleted and fetched again. One unused for 30 days is deleted by a later
// run (pruneCaches). Deleting the whole cache directory is always safe between runs:
// it holds only what the remote has, and credentials never.

// cacheLayout is the version of what the cache directory holds; a change makes old
// caches be ignored (a new name) rather than misread.
const cacheLayout = "v1"

// DefaultCacheDir is where repositories are cached when Options.CacheDir is empty:
// the user's cache directory (XDG_CACHE_HOME or ~/.cache on Linux) + kubectl-promote/repos.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "kubectl-promote", "repos"), nil
}

// cacheName is the directory name of the repository at cleanURL (no credentials).
func cacheName(cleanURL string) string {
	sum := sha256.Sum256([]byte(cacheLayout + "\x00" + cleanURL))
	return hex.EncodeToString(sum[:12])
}

// openWait bounds how long Open waits for another run's operation on the cache
// before it clones into a temporary directory instead.
const openWait = 5 * time.Second

// openCache opens (or makes) the cached repository of rawURL under root and takes
// its lock for the rest of Open. A cache that fails its check is rebuilt.
func (r *Repo) openCache(ctx context.Context, root, rawURL string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	dir := filepath.Join(root, cacheName(rawURL))
	pruneCaches(root, dir, time.Now())
	fl, err := openFileLock(dir + ".lock")
	if err != nil {
		return err
	}
	r.flock, r.cacheDir = fl, dir
	r.pushURL, r.url = rawURL, RedactURL(rawURL)
	wait, cancel := context.WithTimeout(ctx, openWait)
	defer cancel()
	if err := r.flock.lock(wait, dir); err != nil {
		return err
	}
	r.fileLocked = true
	now := time.Now()
	_ = os.Chtimes(dir+".lock", now, now) // used now: pruneCaches reads it
	g, err := openCached(dir, r.remote, rawURL)
	if err != nil {
		if g, err = r.rebuildCache(err); err != nil {
			return err
		}
	}
	r.git = g
	r.packs = packSet(dir)
	return nil
}

// A cached repository no run has opened for cacheUnusedFor (its lock file's time) is
// deleted by a later run, which looks at most once every pruneEvery (the time of
// .pruned under the cache directory), so that repositories a user stopped promoting
// do not stay on disk for ever.
const (
	cacheUnusedFor = 30 * 24 * time.Hour
	pruneEvery     = 24 * time.Hour
)

// pruneCaches deletes the cached repositories under root unused for cacheUnusedFor,
// but not keep (the one this run opens), and each only while holding its lock, so
// that a run using it meanwhile is never disturbed. The lock files stay: a run that
// opened one before the deletion must lock the same file as a run after it. Failures
// are ignored: pruning is housekeeping, never a reason for a promotion to fail.
func pruneCaches(root, keep string, now time.Time) {
	marker := filepath.Join(root, ".pruned")
	if fi, err := os.Stat(marker); err == nil && now.Sub(fi.ModTime()) < pruneEvery {
		return
	}
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return
	}
	_ = os.Chtimes(marker, now, now)
	locks, _ := filepath.Glob(filepath.Join(root, "*.lock"))
	for _, lock := range locks {
		dir := strings.TrimSuffix(lock, ".lock")
		if dir == keep || !unusedSince(lock, now) {
			continue
		}
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		l, err := openFileLock(lock)
		if err != nil {
			continue
		}
		if ok, _ := l.tryLock(); ok {
			if unusedSince(lock, now) { // no run used it before the lock was taken
				_ = os.RemoveAll(dir)
			}
			_ = l.unlock()
		}
		_ = l.close()
	}
}

func unusedSince(lock string, now time.Time) bool {
	fi, err := os.Stat(lock)
	return err == nil && now.Sub(fi.ModTime()) >= cacheUnusedFor
}

// rebuildCache deletes the cache (it is corrupt, or not ours: why) and makes it anew;
// the caller holds the lock.
func (r *Repo) rebuildCache(why error) (*git.Repository, error) {
	closeStore(r.git)
	if err := os.RemoveAll(r.cacheDir); err != nil {
		return nil, fmt.Errorf("removing the corrupt repository cache %s: %v (delete it and run again)", r.cacheDir, err)
	}
	r.rebuilt = fmt.Errorf("the cached copy of %s in %s was unreadable (%s) and was fetched anew", r.url, r.cacheDir, strings.ReplaceAll(why.Error(), r.pushURL, r.url))
	g, err := initBare(r.cacheDir, r.remote, r.pushURL)
	if err != nil {
		return nil, fmt.Errorf("making the repository cache %s: %v", r.cacheDir, err)
	}
	r.packs = packSet(r.cacheDir)
	return g, nil
}

// fetchOrRebuild is Open's fetch: in the cache, a fetch that fails for another
// reason than the remote (credentials, host key, network, deadline) is taken for a
// corrupt cache, which is rebuilt and fetched again, once.
func (r *Repo) fetchOrRebuild(ctx context.Context) error {
	err := r.Fetch(ctx)
	if err == nil || r.cacheDir == "" {
		return err
	}
	for _, remote := range []error{ErrAuthentication, ErrHostKey, ErrUnreachable, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, remote) {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.lockCache(ctx); err != nil {
		return err
	}
	defer r.unlockCache()
	g, rerr := r.rebuildCache(err)
	if rerr != nil {
		return rerr
	}
	r.git = g
	return r.fetch(ctx)
}

// Rebuilt is why Open found the cached repository corrupt and fetched it again, nil
// when it did not: a caller tells the user, once, since the run paid for a full fetch.
func (r *Repo) Rebuilt() error { return r.rebuilt }

// openStore is the object store of the bare repository at dir. go-git's default
// opens a pack file for every object it reads from it, which made reading a long
// history a matter of minutes; this one keeps the pack files open (Close closes them).
func openStore(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(dir, osfs.WithBoundOS()), cache.NewObjectLRUDefault(),
		filesystem.Options{MaxOpenDescriptors: 64})
}

// closeStore closes the pack files g's store keeps open.
func closeStore(g *git.Repository) {
	if g == nil {
		return
	}
	if s, ok := g.Storer.(*filesystem.Storage); ok {
		_ = s.Close()
	}
}

// initBare makes a bare repository at dir whose remote fetches every branch.
func initBare(dir, remote, rawURL string) (*git.Repository, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	g, err := git.Init(openStore(dir), nil)
	if err != nil {
		return nil, err
	}
	if _, err := g.CreateRemote(&config.RemoteConfig{
		Name:  remote,
		URLs:  []string{rawURL},
		Fetch: []config.RefSpec{config.RefSpec("+refs/heads/*:refs/remotes/" + remote + "/*")},
	}); err != nil {
		return nil, err
	}
	return g, nil
}

// openCached opens the cached repository at dir, making it when absent, and checks it:
// its remote is rawURL, and every ref resolves to an object it holds (a commit's tree
// too), which catches truncated packs and lost objects. Any failure is an error: the
// caller rebuilds.
func openCached(dir, remote, rawURL string) (*git.Repository, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return initBare(dir, remote, rawURL)
	}
	if err := checkPacks(dir); err != nil {
		return nil, err
	}
	g, err := git.Open(openStore(dir), nil)
	if err != nil {
		return nil, err
	}
	if err := checkCached(g, remote, rawURL); err != nil {
		closeStore(g)
		return nil, err
	}
	return g, nil
}

// checkCached is openCached's check of an open cache.
func checkCached(g *git.Repository, remote, rawURL string) error {
	rm, err := g.Remote(remote)
	if err != nil || len(rm.Config().URLs) != 1 || rm.Config().URLs[0] != rawURL {
		return fmt.Errorf("the cache is not of %s", RedactURL(rawURL))
	}
	refs, err := g.References()
	if err != nil {
		return err
	}
	defer refs.Close()
	return refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		o, err := g.Storer.EncodedObject(plumbing.AnyObject, ref.Hash())
		if err != nil {
			return fmt.Errorf("ref %s: %w", ref.Name(), err)
		}
		if o.Type() != plumbing.CommitObject {
			return nil
		}
		c, err := object.DecodeCommit(g.Storer, o)
		if err != nil {
			return fmt.Errorf("ref %s: %w", ref.Name(), err)
		}
		if _, err := c.Tree(); err != nil {
			return fmt.Errorf("ref %s: %w", ref.Name(), err)
		}
		return nil
	})
}

// checkPacks checks that every pack file ends with the checksum its index names, as
// a whole pack does: a truncated or overwritten pack fails, without reading it all.
func checkPacks(dir string) error {
	idxs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.idx"))
	if err != nil {
		return err
	}
	for _, idx := range idxs {
		want, err := tail(idx, 40)
		if err != nil {
			return err
		}
		got, err := tail(strings.TrimSuffix(idx, ".idx")+".pack", 20)
		if err != nil {
			return err
		}
		if !bytes.Equal(want[:20], got) {
			return fmt.Errorf("pack %s is damaged", filepath.Base(idx))
		}
	}
	return nil
}

// tail reads the last n bytes of the file at path.
func tail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < n {
		return nil, fmt.Errorf("%s is truncated", filepath.Base(path))
	}
	b := make([]byte, n)
	_, err = f.ReadAt(b, fi.Size()-n)
	return b, err
}

// packSet lists the pack files of the repository at dir.
func packSet(dir string) []string {
	entries, _ := os.ReadDir(filepath.Join(dir, "objects", "pack"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// lockCache takes the cache's lock for one operation and, when another run added
// packs since this one last looked, reopens the repository so that go-git, which
// indexes the packs it opened, sees them.
func (r *Repo) lockCache(ctx context.Context) error {
	if r.flock == nil || r.fileLocked {
		return nil
	}
	if err := r.flock.lock(ctx, r.cacheDir); err != nil {
		return err
	}
	r.fileLocked = true
	if now := packSet(r.cacheDir); !slices.Equal(now, r.packs) {
		g, err := git.Open(openStore(r.cacheDir), nil)
		if err != nil {
			return fmt.Errorf("reopening the repository cache %s: %v (delete it and run again)", r.cacheDir, err)
		}
		closeStore(r.git)
		r.git, r.packs = g, now
	}
	return nil
}

// cacheLocked runs op, which writes to the repository (a fetch, a push), holding the
// cache's lock: taken for op when the operation running op does not hold it already
// (Land lets it go while its MakeFunc runs).
func (r *Repo) cacheLocked(ctx context.Context, op func() error) error {
	if r.flock == nil || r.fileLocked {
		return op()
	}
	if err := r.lockCache(ctx); err != nil {
		return err
	}
	defer r.unlockCache()
	return op()
}

// unlockCache releases the cache's lock, remembering the packs as this run leaves them.
func (r *Repo) unlockCache() {
	if r.flock == nil || !r.fileLocked {
		return
	}
	r.packs = packSet(r.cacheDir)
	r.fileLocked = false
	_ = r.flock.unlock()
}

// lock waits for the file lock, polling, until ctx ends.
func (l *fileLock) lock(ctx context.Context, dir string) error {
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		ok, err := l.tryLock()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the repository cache %s is in use by another kubectl promote that did not finish in time (%w): run again, or delete the cache", dir, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// fileLock is an exclusive lock on a file shared by every kubectl-promote process
// (flock(2), LockFileEx on Windows: lock_*.go); the system drops it when the process
// ends, however it ends.
type fileLock struct{ f *os.File }

func openFileLock(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &fileLock{f: f}, nil
}

func (l *fileLock) close() error { return l.f.Close() }

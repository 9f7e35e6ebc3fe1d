// Package repo is kubectl-promote's Git layer: it fetches the repository Flux reads,
// checks out the revisions to render, and lands promotion and rollback commits on the
// branch a target environment tracks without ever force-pushing.
//
// It exists so that the rest of kubectl-promote deals in revisions, directories and
// commit specs, not in Git plumbing, and so that the properties the product promises
// live in one place: pure Go (go-git, no git binary at run time), credentials never in
// output, errors or repositories, races with other pushers resolved by re-applying the
// change on the new head, and a user's checkout never damaged.
//
// # Working copies
//
// Without Options.RepoDir, Open makes a bare clone in a temporary directory that Close
// removes. With RepoDir, Open uses that local checkout's object store and the remote
// whose URL matches Options.URL (else "origin"). Its working tree must have no
// uncommitted changes to tracked files. Fetch updates only remote-tracking refs
// (refs/remotes/<remote>/*). CommitAndPush builds the commit in the object store from
// a temporary directory, never in the working tree, and pushes it by SHA. Only after
// the push has been accepted does it touch the user's refs, and only by fast-forward:
// if the pushed branch is the one checked out, its working tree is still clean and no
// untracked file would be overwritten, the branch ref, index and changed files are
// moved to the pushed commit (as "git merge --ff-only" would); if the branch is not
// checked out, only its ref is fast-forwarded; otherwise (local commits, new edits,
// colliding untracked files) nothing local changes besides the remote-tracking ref and
// PushResult.LocalUpdated is false, leaving "git pull" to the user. Nothing is lost in
// any case: the pushed commit is on the remote and in the object store.
package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Options says which repository to open and how.
type Options struct {
	// URL of the remote repository, as in the GitRepository's spec.url. Credentials
	// embedded in an HTTP(S) URL are moved into Auth and never stored.
	URL string
	// Auth holds the credentials; see Auth.
	Auth Auth
	// RepoDir, when set, is a local checkout to use instead of a temporary clone.
	RepoDir string
	// Progress, when set, receives the remote's progress messages.
	Progress io.Writer
	// Signer, when set, signs every commit and tag object the Repo writes (a
	// *sign.Key); see signObject.
	Signer git.Signer
	// CacheDir is where repositories are kept between runs (see "The repository
	// cache" in cache.go); "" means DefaultCacheDir, NoCache a temporary clone that
	// Close removes. Unused with RepoDir.
	CacheDir string
}

// NoCache as Options.CacheDir makes Open clone into a temporary directory.
const NoCache = "-"

// Repo is an open repository. Its methods are safe for concurrent use; they run one
// at a time. An ApplyFunc may call them with the context it was given.
type Repo struct {
	mu       sync.Mutex
	git      *git.Repository
	url      string // redacted, for messages
	pushURL  string // without userinfo
	remote   string // remote name
	auth     Auth
	method   transport.AuthMethod
	progress io.Writer
	tmp      string            // temporary clone to remove, if any
	local    bool              // RepoDir mode
	heads    map[string]string // directory -> commit checked out into it
	signer   git.Signer        // signs commits and tags, if set
	net      netGate           // one network operation at a time (bounded)

	// The cache (see cache.go), when the repository is kept there.
	cacheDir   string
	flock      *fileLock
	fileLocked bool     // this Repo holds flock now
	packs      []string // the pack files as of this Repo's last look
	rebuilt    error    // why Open found the cache corrupt and rebuilt it
	deepened   int      // the steps of deepenSteps fetched
}

// Open opens the cached repository of Options.URL (making it on first use), or clones
// it into a temporary bare repository, or opens the local checkout Options.RepoDir, and
// fetches every branch: only their tips, except in a checkout (see "Shallow history").
func Open(ctx context.Context, opts Options) (*Repo, error) {
	clean, user, pass := splitUserinfo(strings.TrimSpace(opts.URL))
	if opts.Auth.Username == "" && opts.Auth.Password == "" && opts.Auth.Token == "" && (user != "" || pass != "") {
		opts.Auth.Username, opts.Auth.Password = user, pass
	}
	r := &Repo{auth: opts.Auth, progress: opts.Progress, remote: "origin", heads: map[string]string{}, signer: opts.Signer, net: newNetGate()}
	if opts.RepoDir != "" {
		if err := r.openLocal(opts.RepoDir, clean); err != nil {
			return nil, err
		}
	} else {
		if clean == "" {
			return nil, fmt.Errorf("no repository URL: set the GitRepository URL or pass --repo-dir")
		}
		if err := r.openShared(ctx, clean, opts.CacheDir); err != nil {
			return nil, err
		}
	}
	m, err := r.auth.method(r.pushURL)
	if err != nil {
		r.Close()
		return nil, r.classify("connecting to", err)
	}
	r.method = m
	if err := r.fetchOrRebuild(ctx); err != nil {
		r.Close()
		return nil, err
	}
	if r.local {
		if err := r.unshallow(ctx, opts.RepoDir); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// unshallow gives a shallow checkout (CI's fetch-depth: 1 makes one) the history a
// promotion reads: the source's applied commit, the log history and rollback walk.
// It fetches as "git fetch --unshallow" does, and refuses with that command when the
// remote cannot deepen it.
func (r *Repo) unshallow(ctx context.Context, dir string) error {
	shallow, err := r.git.Storer.Shallow()
	if err != nil || len(shallow) == 0 {
		return err
	}
	opts := r.fetchOptions()
	opts.Depth, opts.Prune = math.MaxInt32, false // git's own "infinite" depth for --unshallow
	fetchErr := bounded(ctx, r.net, func(ctx context.Context) error { return r.git.FetchContext(ctx, opts) })
	if errors.Is(fetchErr, git.NoErrAlreadyUpToDate) {
		fetchErr = nil
	}
	if fetchErr == nil {
		if err := r.pruneShallow(); err != nil {
			return err
		}
		if shallow, err = r.git.Storer.Shallow(); err != nil || len(shallow) == 0 {
			return err
		}
	}
	why := "the remote did not send the rest of its history"
	if fetchErr != nil {
		why = r.classify("deepening from", fetchErr).Error()
	}
	return fmt.Errorf("--repo-dir %s is a shallow clone (as CI's fetch-depth: 1 makes) and deepening it failed: %s; run \"git -C %s fetch --unshallow\" (or check out with fetch-depth: 0) and promote again",
		dir, why, dir)
}

// openShared opens the cache of rawURL under cacheDir, or a temporary clone when
// there is no cache (NoCache, no user cache directory, or one that cannot be written).
func (r *Repo) openShared(ctx context.Context, rawURL, cacheDir string) error {
	if cacheDir == "" {
		cacheDir, _ = DefaultCacheDir()
	}
	if cacheDir != "" && cacheDir != NoCache {
		err := r.openCache(ctx, cacheDir, rawURL)
		r.unlockCache()
		if err == nil {
			return nil
		}
		r.Close()
		r.flock, r.cacheDir, r.git = nil, "", nil
	}
	return r.openTemp(rawURL)
}

func (r *Repo) openTemp(rawURL string) error {
	dir, err := os.MkdirTemp("", "kubectl-promote-git-")
	if err != nil {
		return err
	}
	r.tmp = dir
	g, err := initBare(dir, r.remote, rawURL)
	if err != nil {
		r.Close()
		return err
	}
	r.git, r.pushURL, r.url = g, rawURL, RedactURL(rawURL)
	return nil
}

func (r *Repo) openLocal(dir, rawURL string) error {
	g, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return fmt.Errorf("--repo-dir %s is not a Git checkout: %v", dir, err)
	}
	remotes, err := g.Remotes()
	if err != nil {
		return err
	}
	var chosen *config.RemoteConfig
	var names []string
	for _, rm := range remotes {
		c := rm.Config()
		if len(c.URLs) > 0 {
			names = append(names, c.Name+" "+RedactURL(c.URLs[0]))
		}
		if rawURL != "" && len(c.URLs) > 0 && SameURL(c.URLs[0], rawURL) && chosen == nil {
			chosen = c
		}
	}
	if chosen == nil && rawURL == "" {
		for _, rm := range remotes {
			if rm.Config().Name == "origin" {
				chosen = rm.Config()
			}
		}
	}
	if chosen == nil || len(chosen.URLs) == 0 {
		// Pushing to another remote (a fork with the same history) would announce to
		// Flux a revision it never sees.
		sort.Strings(names)
		if len(names) == 0 {
			names = []string{"none"}
		}
		return fmt.Errorf("the checkout at %s has no remote for %s, the repository Flux reads (remotes: %s): add one with \"git -C %s remote add flux %s\"",
			dir, RedactURL(rawURL), strings.Join(names, ", "), dir, RedactURL(rawURL))
	}
	r.git, r.local, r.remote = g, true, chosen.Name
	r.pushURL, _, _ = splitUserinfo(chosen.URLs[0])
	r.url = RedactURL(r.pushURL)
	if user, pass := userinfo(chosen.URLs[0]); r.auth.Username == "" && r.auth.Token == "" && (user != "" || pass != "") {
		r.auth.Username, r.auth.Password = user, pass
	}
	return r.checkClean(dir)
}

func userinfo(rawURL string) (string, string) {
	_, u, p := splitUserinfo(rawURL)
	return u, p
}

// checkClean fails with ErrDirty naming the tracked files with uncommitted changes.
func (r *Repo) checkClean(dir string) error {
	dirty, err := r.dirtyFiles()
	if err != nil {
		return err
	}
	if len(dirty) == 0 {
		return nil
	}
	list := dirty
	if len(list) > 10 {
		list = append(list[:10:10], fmt.Sprintf("and %d more", len(dirty)-10))
	}
	return fmt.Errorf("%w: %s has uncommitted changes in %s: commit or stash them (\"git stash\") before promoting",
		ErrDirty, dir, strings.Join(list, ", "))
}

// dirtyFiles lists tracked files with staged or unstaged changes, sorted.
func (r *Repo) dirtyFiles() ([]string, error) {
	wt, err := r.git.Worktree()
	if errors.Is(err, git.ErrIsBareRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("reading the status of the checkout: %v", err)
	}
	var dirty []string
	for name, s := range st {
		if s.Staging == git.Untracked && s.Worktree == git.Untracked {
			continue
		}
		if s.Staging != git.Unmodified || s.Worktree != git.Unmodified {
			dirty = append(dirty, name)
		}
	}
	sort.Strings(dirty)
	return dirty, nil
}

// SameURL compares two remote URLs by host and path, ignoring scheme, user,
// a trailing ".git" or "/" and the case of the host, so that
// "git@github.com:org/fleet.git" and "https://github.com/org/fleet" match.
func SameURL(a, b string) bool {
	ka, oka := repoKey(a)
	kb, okb := repoKey(b)
	return oka && okb && ka == kb
}

func repoKey(raw string) (string, bool) {
	ep, err := transport.NewEndpoint(strings.TrimSpace(raw))
	if err != nil {
		return "", false
	}
	p := strings.TrimSuffix(strings.Trim(ep.Path, "/"), ".git")
	if ep.Protocol == "file" {
		if abs, err := filepath.Abs(ep.Path); err == nil {
			p = abs
		}
	}
	return strings.ToLower(ep.Host) + "/" + p, true
}

// URL returns the remote URL in use, without credentials.
func (r *Repo) URL() string { return r.url }

// Close releases the repository and removes the temporary clone, if any; a cached
// repository stays for the next run.
func (r *Repo) Close() error {
	closeStore(r.git)
	if r.flock != nil {
		r.unlockCache()
		err := r.flock.close()
		r.flock = nil
		return err
	}
	if r.tmp != "" {
		err := os.RemoveAll(r.tmp)
		r.tmp = ""
		return err
	}
	return nil
}

// Fetch updates the remote-tracking refs of every branch from the remote.
func (r *Repo) Fetch(ctx context.Context) error {
	defer r.lock(ctx)()
	return r.fetch(ctx)
}

// fetchOptions fetches every branch, the notes and the tags into remote-tracking
// refs (the tags into a namespace of their own, never the checkout's refs/tags),
// pruning those the remote deleted.
func (r *Repo) fetchOptions() *git.FetchOptions {
	return &git.FetchOptions{
		RemoteName: r.remote,
		RemoteURL:  r.pushURL,
		RefSpecs: []config.RefSpec{config.RefSpec("+refs/heads/*:refs/remotes/" + r.remote + "/*"),
			config.RefSpec("+refs/notes/*:" + r.notesTrackingPrefix() + "*"),
			config.RefSpec("+refs/tags/*:" + r.tagsTrackingPrefix() + "*")},
		Auth:     r.method,
		Progress: r.progress,
		Tags:     git.NoTags,
		Force:    true,
		Prune:    true,
		Depth:    r.fetchDepth(),
	}
}

// fetchDepth is 1 (the tips; see "Shallow history") but in a checkout, which the user
// keeps whole.
func (r *Repo) fetchDepth() int {
	if r.local {
		return 0
	}
	return 1
}

func (r *Repo) fetch(ctx context.Context) error {
	return r.cacheLocked(ctx, func() error {
		err := bounded(ctx, r.net, func(ctx context.Context) error { return r.git.FetchContext(ctx, r.fetchOptions()) })
		if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) || errors.Is(err, transport.ErrEmptyRemoteRepository) {
			if err == nil && !r.local {
				return r.pruneShallow()
			}
			return nil
		}
		return r.classify("fetching from", err)
	})
}

// BranchHead returns the SHA of branch on the remote as of the last Fetch (Open
// fetches). A missing branch is ErrNotFound.
func (r *Repo) BranchHead(ctx context.Context, branch string) (string, error) {
	defer r.lock(ctx)()
	return r.branchHead(branch)
}

func (r *Repo) branchHead(branch string) (string, error) {
	branch = strings.TrimPrefix(branch, "refs/heads/")
	ref, err := r.git.Reference(plumbing.NewRemoteReferenceName(r.remote, branch), true)
	if err != nil {
		return "", fmt.Errorf("%w: branch %q does not exist in %s", ErrNotFound, branch, r.url)
	}
	return ref.Hash().String(), nil
}

// Checkout writes the tree of commit sha into dir, which must not exist or be empty.
// Files keep their executable bit; symbolic links are written as symbolic links with
// their recorded target, whatever it points at, so the caller can inspect and refuse
// links that escape dir. Submodules become empty directories. Entries with names Git
// itself would refuse (".", "..", ".git", containing "/" ) are an error.
func (r *Repo) Checkout(ctx context.Context, sha, dir string) error {
	defer r.lock(ctx)()
	return r.checkout(ctx, sha, dir)
}

func (r *Repo) commitObject(sha string) (*object.Commit, error) {
	if !hexRE.MatchString(strings.ToLower(sha)) {
		return nil, fmt.Errorf("invalid commit %q: expected a 40-character hex sha1", sha)
	}
	c, err := r.git.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return nil, &missingCommit{fmt.Errorf("%w: commit %s is not in %s (was it pushed? run a fetch)", ErrNotFound, ShortSHA(sha), r.url)}
	}
	return c, nil
}

func (r *Repo) checkout(ctx context.Context, sha, dir string) error {
	c, err := r.commit(ctx, sha)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if entries, err := os.ReadDir(dir); err != nil {
		return err
	} else if len(entries) > 0 {
		return fmt.Errorf("checkout directory %s is not empty", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := writeTree(ctx, root, ".", tree); err != nil {
		return fmt.Errorf("checking out %s: %w", ShortSHA(sha), err)
	}
	r.heads[absDir(dir)] = c.Hash.String()
	return nil
}

func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.EqualFold(name, ".git") &&
		!strings.ContainsAny(name, "/\x00") && !strings.Contains(name, `\`)
}

func writeTree(ctx context.Context, root *os.Root, dir string, tree *object.Tree) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, e := range tree.Entries {
		if !validName(e.Name) {
			return fmt.Errorf("refusing tree entry %q in %s", e.Name, dir)
		}
		p := path.Join(dir, e.Name)
		switch e.Mode {
		case filemode.Dir:
			sub, err := tree.Tree(e.Name)
			if err != nil {
				return err
			}
			if err := root.Mkdir(p, 0o755); err != nil {
				return err
			}
			if err := writeTree(ctx, root, p, sub); err != nil {
				return err
			}
		case filemode.Submodule:
			if err := root.Mkdir(p, 0o755); err != nil {
				return err
			}
		case filemode.Symlink:
			target, err := blobContent(tree, e)
			if err != nil {
				return err
			}
			if err := root.Symlink(string(target), p); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			data, err := blobContent(tree, e)
			if err != nil {
				return err
			}
			perm := os.FileMode(0o644)
			if e.Mode == filemode.Executable {
				perm = 0o755
			}
			f, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
			if err != nil {
				return err
			}
			_, werr := f.Write(data)
			cerr := f.Close()
			if werr != nil {
				return werr
			}
			if cerr != nil {
				return cerr
			}
		default:
			return fmt.Errorf("unsupported mode %v for %s", e.Mode, p)
		}
	}
	return nil
}

func blobContent(tree *object.Tree, e object.TreeEntry) ([]byte, error) {
	f, err := tree.TreeEntryFile(&e)
	if err != nil {
		return nil, err
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

type lockKey struct{ r *Repo }

// lock takes the repository's lock unless ctx comes from an ApplyFunc called by
// CommitAndPush, which already holds it, so that ApplyFuncs can call Checkout,
// RevertInto and Log.
func (r *Repo) lock(ctx context.Context) func() {
	if ctx.Value(lockKey{r}) != nil {
		return func() {}
	}
	r.mu.Lock()
	// Waiting for another run's operation ends with ctx: then this operation runs
	// without the cache's lock, which is safe since every write to the cache is a
	// fetch or a push, which fails at once on the ended ctx, or an object, which
	// go-git writes to a temporary file and renames.
	_ = r.lockCache(ctx)
	return func() {
		r.unlockCache()
		r.mu.Unlock()
	}
}

func absDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

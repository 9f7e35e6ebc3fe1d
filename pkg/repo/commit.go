package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ApplyFunc makes a change for CommitAndPush. dir holds the tree of commit head, the
// current head of the branch; the function edits files in dir (adds, modifies,
// deletes) and returns what to commit, or nil when there is nothing to do. It may be
// called more than once, each time on a fresh directory holding a newer head, when
// another push lands first; it must therefore decide from dir and head alone.
type ApplyFunc func(ctx context.Context, head string, dir string) (*CommitSpec, error)

// CommitSpec is what ApplyFunc asks to commit.
type CommitSpec struct {
	// Message is the subject line, optionally followed by a blank line and a body.
	Message string
	// Trailers are appended as the message's trailer block.
	Trailers []Trailer
	// Author is the author and committer of the commit.
	Author Signature
}

// PushOptions bounds CommitAndPush's retries.
type PushOptions struct {
	// MaxAttempts is the number of times to apply and push before giving up with
	// ErrRaceLost; 0 means 5.
	MaxAttempts int
	// Backoff is the base delay before a retry, doubled each attempt up to 2 s, with jitter;
	// 0 means 200ms.
	Backoff time.Duration
	// Base, when the branch does not exist yet, is the branch name or commit SHA to
	// create it from (review mode pushes to a new promotion branch). Without Base a
	// missing branch is ErrNotFound.
	Base string
}

// PushResult describes a CommitAndPush.
type PushResult struct {
	Commit   string   // the pushed commit; empty when NoOp
	Parent   string   // the branch head it was built on (the head seen by the last ApplyFunc call)
	Branch   string   // the branch pushed to
	Attempts int      // how many times ApplyFunc ran
	Files    []string // paths added, modified or deleted, sorted, slash-separated
	NoOp     bool     // nothing to commit: ApplyFunc returned nil or changed nothing
	// LocalUpdated reports, with Options.RepoDir, whether the local branch (and its
	// working tree, if checked out) was fast-forwarded to Commit.
	LocalUpdated bool
}

// CommitAndPush lands a change on branch without ever force-pushing: it fetches,
// checks out the branch head into a temporary directory, calls apply, commits exactly
// the files that differ from the head, and pushes. When the push fails because the
// branch moved (another writer pushed first), it fetches and calls apply again on the
// new head, up to MaxAttempts times with jittered exponential backoff. Any other
// refusal is a *PushRejectedError.
func (r *Repo) CommitAndPush(ctx context.Context, branch string, apply ApplyFunc, opts PushOptions) (*PushResult, error) {
	return r.Land(ctx, branch, func(ctx context.Context, head string) (*Made, error) {
		commit, files, err := r.applyOnce(ctx, head, apply)
		if err != nil || commit == "" {
			return nil, err
		}
		return &Made{Commit: commit, Files: files}, nil
	}, opts)
}

// MakeFunc makes the commit Land pushes, on head, the branch's current head. It may
// be called again on a newer head when another push lands first; nil means there is
// nothing to push. It may call the Repo's methods with the context it was given.
type MakeFunc func(ctx context.Context, head string) (*Made, error)

// Made is what a MakeFunc made: the commit to put on the branch (a new commit, or an
// existing one the head is an ancestor of, for a fast-forward), the files it
// changes, and other refs to update in the same atomic push.
type Made struct {
	Commit string
	Files  []string
	Also   []RefUpdate
}

// RefUpdate moves a ref other than the branch (a notes ref) from Old (as last
// fetched; "" when absent) to Commit, in the same push as the branch.
type RefUpdate struct {
	Name, Old, Commit string
}

// raced tells, of a push of commit on head that the server refused, whether
// someone else moved the branch (a race: nil, to retry on the new head), or made
// the very same commit first (noop: this one pushed nothing); any other refusal is
// pushErr. creating says the branch was to be made from a base.
func (r *Repo) raced(ctx context.Context, branch, head, commit string, also []RefUpdate, creating bool, pushErr error) (noop bool, err error) {
	if err := r.fetch(ctx); err != nil {
		return false, err
	}
	now, herr := r.branchHead(branch)
	if errors.Is(herr, ErrNotFound) && creating {
		return false, pushErr // still absent: the creation itself was refused
	}
	if herr == nil && now == commit {
		// Refused, yet the branch is at our commit: another run made the very same
		// commit and its push won.
		return true, nil
	}
	if herr != nil || (now == head && !r.movedAny(also)) {
		return false, pushErr
	}
	return false, nil
}

// Land puts a commit made by make on branch without ever force-pushing: it fetches,
// calls make on the branch head and pushes what it made (atomically with Made.Also;
// a Made whose Commit is the head itself pushes only the Also refs, a tag of it).
// When the push fails because the branch (or one of the Also refs) moved, it fetches
// and calls make again on the new head, up to MaxAttempts times with jittered
// exponential backoff. Any other refusal is a *PushRejectedError.
func (r *Repo) Land(ctx context.Context, branch string, make MakeFunc, opts PushOptions) (*PushResult, error) {
	defer r.lock(ctx)()
	ctx = context.WithValue(ctx, lockKey{r}, true)
	branch = strings.TrimPrefix(branch, "refs/heads/")
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	res := &PushResult{Branch: branch}
	for {
		res.Attempts++
		if err := r.fetch(ctx); err != nil {
			return nil, err
		}
		head, err := r.branchHead(branch)
		if errors.Is(err, ErrNotFound) && opts.Base != "" {
			head, err = r.resolve(opts.Base)
		}
		if err != nil {
			return nil, err
		}
		res.Parent = head
		made, err := r.makeUnlocked(ctx, make, head)
		if err != nil {
			return nil, err
		}
		if made == nil || made.Commit == "" || made.Commit == head && len(made.Also) == 0 {
			res.NoOp, res.Files = true, nil
			return res, nil
		}
		commit := made.Commit
		res.Files = made.Files
		pushErr := r.push(ctx, commit, branch, made.Also...)
		if errors.Is(pushErr, errAlreadyThere) {
			// Another run made the very same commit (same edit, parent, author and
			// second) and pushed it first: this one pushed nothing.
			res.NoOp, res.Files = true, nil
			return res, nil
		}
		if pushErr == nil {
			res.Commit = commit
			res.LocalUpdated = r.updateLocal(branch, commit)
			return res, nil
		}
		var rejected *PushRejectedError
		if !errors.As(pushErr, &rejected) && !errors.Is(pushErr, ErrAuthentication) && !errors.Is(pushErr, ErrHostKey) &&
			!errors.As(pushErr, new(*notSentError)) {
			// The connection failed, or the deadline passed, while the server may
			// already have had the pack: read the branch back to know.
			ok, err := r.landed(ctx, branch, commit)
			switch {
			case err != nil:
				return nil, &PushUnknownError{Commit: commit, Branch: branch, URL: r.url, Err: pushErr}
			case ok:
				res.Commit = commit
				res.LocalUpdated = r.updateLocal(branch, commit)
				return res, nil
			}
			return nil, pushErr
		}
		noop, err := r.raced(ctx, branch, head, commit, made.Also, opts.Base != "", pushErr)
		if err != nil {
			return nil, err
		}
		if noop {
			res.NoOp, res.Files = true, nil
			return res, nil
		}
		if res.Attempts >= opts.MaxAttempts {
			return nil, fmt.Errorf("%w: %d attempts to push to %q of %s lost to other pushes; try again", ErrRaceLost, res.Attempts, branch, r.url)
		}
		if err := sleep(ctx, backoff(opts.Backoff, res.Attempts)); err != nil {
			return nil, err
		}
	}
}

// makeUnlocked runs make without the cache's lock: other runs may use the cache while
// this one makes its commit, since what make writes are objects, and what it fetches
// takes the lock again.
func (r *Repo) makeUnlocked(ctx context.Context, make MakeFunc, head string) (*Made, error) {
	r.unlockCache()
	defer func() { _ = r.lockCache(ctx) }()
	return make(ctx, head)
}

// resolve returns the commit of a remote branch name or a full SHA.
func (r *Repo) resolve(rev string) (string, error) {
	if hexRE.MatchString(rev) {
		c, err := r.commitObject(rev)
		if err != nil {
			return "", err
		}
		return c.Hash.String(), nil
	}
	return r.branchHead(rev)
}

func backoff(base time.Duration, attempt int) time.Duration {
	// Capped low: a push that lost a race only waits for the one that won, so many
	// racers retry often rather than sleeping long.
	d := base << (attempt - 1)
	if d > 2*time.Second || d <= 0 {
		d = 2 * time.Second
	}
	// Full jitter in [d/2, d).
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// applyOnce checks out head, runs apply and stores the resulting commit. It returns
// an empty commit when there is nothing to commit.
func (r *Repo) applyOnce(ctx context.Context, head string, apply ApplyFunc) (string, []string, error) {
	tmp, err := os.MkdirTemp("", "kubectl-promote-apply-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "tree")
	if err := r.checkout(ctx, head, dir); err != nil {
		return "", nil, err
	}
	defer delete(r.heads, absDir(dir))
	spec, err := apply(ctx, head, dir)
	if err != nil {
		return "", nil, err
	}
	if spec == nil {
		return "", nil, nil
	}
	if strings.TrimSpace(spec.Message) == "" {
		return "", nil, fmt.Errorf("empty commit message")
	}
	if spec.Author.Name == "" || spec.Author.Email == "" {
		return "", nil, fmt.Errorf("no commit author: pass --author \"Name <email>\"")
	}
	for _, t := range spec.Trailers {
		if !trailerKeyRE.MatchString(t.Key) {
			return "", nil, fmt.Errorf("invalid trailer key %q: use letters, digits and '-'", t.Key)
		}
	}
	parent, err := r.commitObject(head)
	if err != nil {
		return "", nil, err
	}
	headTree, err := parent.Tree()
	if err != nil {
		return "", nil, err
	}
	treeHash, err := r.storeDir(ctx, dir, headTree)
	if err != nil {
		return "", nil, fmt.Errorf("recording changes: %w", err)
	}
	if treeHash == headTree.Hash {
		return "", nil, nil
	}
	newTree, err := r.git.TreeObject(treeHash)
	if err != nil {
		return "", nil, err
	}
	files, err := changedFiles(headTree, newTree)
	if err != nil {
		return "", nil, err
	}
	subject, body, _ := strings.Cut(strings.TrimSpace(spec.Message), "\n")
	now := commitTime()
	sig := object.Signature{Name: spec.Author.Name, Email: spec.Author.Email, When: now}
	c := &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      FormatMessage(subject, body, spec.Trailers),
		TreeHash:     treeHash,
		ParentHashes: []plumbing.Hash{parent.Hash},
	}
	if c.PGPSignature, err = r.signObject(c); err != nil {
		return "", nil, err
	}
	obj := r.git.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return "", nil, err
	}
	h, err := r.git.Storer.SetEncodedObject(obj)
	if err != nil {
		return "", nil, err
	}
	return h.String(), files, nil
}

// changedFiles lists the paths that differ between two trees.
func changedFiles(from, to *object.Tree) ([]string, error) {
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, ch := range changes {
		if ch.From.Name != "" {
			set[ch.From.Name] = true
		}
		if ch.To.Name != "" {
			set[ch.To.Name] = true
		}
	}
	files := make([]string, 0, len(set))
	for f := range set {
		files = append(files, f)
	}
	sort.Strings(files)
	return files, nil
}

// storeDir writes the blobs and trees for the directory dir into the object store and
// returns the tree hash. old is the corresponding tree of the head (nil if none); its
// submodule entries are kept where dir has the empty directory Checkout made.
func (r *Repo) storeDir(ctx context.Context, dir string, old *object.Tree) (plumbing.Hash, error) {
	if err := ctx.Err(); err != nil {
		return plumbing.ZeroHash, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tree := &object.Tree{}
	for _, de := range entries {
		name := de.Name()
		if name == ".git" {
			continue
		}
		p := filepath.Join(dir, name)
		var oldEntry *object.TreeEntry
		if old != nil {
			if e, err := old.FindEntry(name); err == nil {
				oldEntry = e
			}
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			h, err := r.storeBlob([]byte(filepath.ToSlash(target)))
			if err != nil {
				return plumbing.ZeroHash, err
			}
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: filemode.Symlink, Hash: h})
		case fi.IsDir():
			if oldEntry != nil && oldEntry.Mode == filemode.Submodule {
				if sub, _ := os.ReadDir(p); len(sub) == 0 {
					tree.Entries = append(tree.Entries, *oldEntry)
					continue
				}
			}
			var oldSub *object.Tree
			if oldEntry != nil && oldEntry.Mode == filemode.Dir {
				oldSub, _ = r.git.TreeObject(oldEntry.Hash)
			}
			h, err := r.storeDir(ctx, p, oldSub)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			if h == emptyTreeHash {
				continue // Git does not record empty directories.
			}
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			h, err := r.storeBlob(data)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			mode := filemode.Regular
			if fi.Mode().Perm()&0o111 != 0 {
				mode = filemode.Executable
			}
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: mode, Hash: h})
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s is not a regular file, directory or symbolic link", p)
		}
	}
	sort.Sort(object.TreeEntrySorter(tree.Entries))
	return r.storeObject(tree)
}

var emptyTreeHash = plumbing.ComputeHash(plumbing.TreeObject, nil)

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func (r *Repo) storeObject(o encoder) (plumbing.Hash, error) {
	obj := r.git.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	h := obj.Hash()
	if h == emptyTreeHash {
		return h, nil
	}
	if r.git.Storer.HasEncodedObject(h) == nil {
		return h, nil
	}
	return r.git.Storer.SetEncodedObject(obj)
}

func (r *Repo) storeBlob(data []byte) (plumbing.Hash, error) {
	h := plumbing.ComputeHash(plumbing.BlobObject, data)
	if r.git.Storer.HasEncodedObject(h) == nil {
		return h, nil
	}
	obj := r.git.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.git.Storer.SetEncodedObject(obj)
}

// commitTime is the time a commit is made at (a test makes two runs' commits in
// the same second).
var commitTime = time.Now

// errAlreadyThere is push finding the branch (and the also refs) already at the
// commits it was to send.
var errAlreadyThere = errors.New("the branch is already at the commit")

// push sends commit to refs/heads/branch, never forcing, with the also refs in the
// same atomic push.
func (r *Repo) push(ctx context.Context, commit, branch string, also ...RefUpdate) error {
	specs := []config.RefSpec{config.RefSpec(commit + ":refs/heads/" + branch)}
	for _, a := range also {
		if tag, ok := strings.CutPrefix(a.Name, "refs/tags/"); ok {
			// go-git pushes a bare SHA only when it names a commit: a tag object goes
			// through a ref of ours, which also has go-git refuse a name the remote has.
			out := plumbing.ReferenceName(outgoingTags + tag)
			if err := r.git.Storer.SetReference(plumbing.NewHashReference(out, plumbing.NewHash(a.Commit))); err != nil {
				return err
			}
			defer func() { _ = r.git.Storer.RemoveReference(out) }()
			specs = append(specs, config.RefSpec(out.String()+":"+a.Name))
			continue
		}
		specs = append(specs, config.RefSpec(a.Commit+":"+a.Name))
	}
	var serverMsg bytes.Buffer
	var progress io.Writer = &serverMsg
	if r.progress != nil {
		progress = io.MultiWriter(&serverMsg, r.progress)
	}
	err := r.cacheLocked(ctx, func() error {
		return bounded(ctx, r.net, func(ctx context.Context) error {
			return r.git.PushContext(ctx, &git.PushOptions{
				RemoteName: r.remote,
				RemoteURL:  r.pushURL,
				RefSpecs:   specs,
				Auth:       r.method,
				Progress:   progress,
				Atomic:     len(also) > 0,
			})
		})
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return errAlreadyThere
	}
	if err == nil {
		return nil
	}
	// go-git reports a failure of the request that carries the pack (the connection
	// dropped, the deadline passed) as an "unexpected client error" around the
	// transport's error, without unwrapping: that is no refusal by the server, which
	// may well have taken the pack.
	var sending *plumbing.UnexpectedError
	if errors.As(err, &sending) && sending.Err != nil {
		err = sending.Err
	}
	c := r.classify("pushing to", err)
	var urlErr *url.Error
	if errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(strings.ToLower(err.Error()), "connection refused") ||
		sending == nil && errors.As(err, &urlErr) && urlErr.Op == http.MethodGet {
		// Refused, or failed while asking for the server's refs: no pack was sent.
		return &notSentError{c}
	}
	if sending != nil || ctx.Err() != nil {
		return c
	}
	if errors.Is(c, ErrAuthentication) || errors.Is(c, ErrUnreachable) || errors.Is(c, ErrHostKey) ||
		errors.Is(c, context.Canceled) || errors.Is(c, context.DeadlineExceeded) {
		return c
	}
	msg := serverMessage(serverMsg.String())
	status := redact(err.Error(), r.auth.secrets())
	if msg == "" {
		msg = status
	} else if !strings.Contains(msg, status) {
		msg += " (" + status + ")"
	}
	return &PushRejectedError{URL: r.url, Branch: branch, Message: redact(msg, r.auth.secrets())}
}

// notSentError is a push that failed before anything reached the server (the
// connection was refused).
type notSentError struct{ error }

func (e *notSentError) Unwrap() error { return e.error }

// serverMessage extracts the lines a server sent on the side band, dropping progress
// counters.
func serverMessage(s string) string {
	var lines []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "remote:"))
		if l == "" || strings.Contains(l, "%") && (strings.HasPrefix(l, "Resolving") || strings.HasPrefix(l, "Counting") ||
			strings.HasPrefix(l, "Compressing") || strings.HasPrefix(l, "Total") || strings.HasPrefix(l, "Enumerating")) {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}

// updateLocal fast-forwards the local branch of a RepoDir checkout to commit, when it
// can do so without touching anything uncommitted. See the package documentation.
func (r *Repo) updateLocal(branch, commit string) bool {
	if !r.local {
		return false
	}
	refName := plumbing.NewBranchReferenceName(branch)
	local, err := r.git.Storer.Reference(refName)
	if err != nil || local.Type() != plumbing.HashReference {
		return false
	}
	newC, err := r.git.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return false
	}
	oldC, err := r.git.CommitObject(local.Hash())
	if err != nil {
		return false
	}
	if ff, err := oldC.IsAncestor(newC); err != nil || !ff {
		return false
	}
	head, err := r.git.Storer.Reference(plumbing.HEAD)
	checkedOut := err == nil && head.Type() == plumbing.SymbolicReference && head.Target() == refName
	wt, wtErr := r.git.Worktree()
	if !checkedOut || wtErr != nil {
		// Not checked out (or a bare repository): moving the ref is all a
		// fast-forward needs.
		return r.git.Storer.CheckAndSetReference(plumbing.NewHashReference(refName, newC.Hash), local) == nil
	}
	st, err := wt.Status()
	if err != nil {
		return false
	}
	oldTree, err1 := oldC.Tree()
	newTree, err2 := newC.Tree()
	if err1 != nil || err2 != nil {
		return false
	}
	changed, err := changedFiles(oldTree, newTree)
	if err != nil {
		return false
	}
	for name, s := range st {
		if s.Staging == git.Untracked && s.Worktree == git.Untracked {
			// An untracked file the fast-forward would overwrite, or one inside a
			// directory it would replace: keep the user's file.
			for _, c := range changed {
				if name == c || strings.HasPrefix(name, c+"/") || strings.HasPrefix(c, name+"/") {
					return false
				}
			}
			continue
		}
		if s.Staging != git.Unmodified || s.Worktree != git.Unmodified {
			return false
		}
	}
	// Reset --merge moves HEAD's branch and rewrites only the index entries and
	// files that differ from the new tree: on a clean tree, a fast-forward.
	if err := wt.Reset(&git.ResetOptions{Commit: newC.Hash, Mode: git.MergeReset}); err != nil {
		return false
	}
	return true
}

package repo

import (
	"context"
	"errors"
	"math"
	"os"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// # Shallow history
//
// A cached or temporary repository is fetched at depth 1: the tips of the branches,
// tags and notes, which is all a promotion reads in the common case (the source's
// applied commit is the head of its branch, the target's branch head is where the
// commit goes). A read that walks history (Log, Range, IsAncestor, MergeTree, a
// revert, the checkout of an older commit) runs through history, which deepens the
// repository when the walk reaches a commit it does not hold and runs the read again.
// Deepening is bounded: the depth grows sixteenfold a step (16, 256, 4096, 65536,
// then the whole history), so a read that needs n commits fetches fewer than 16n and
// costs at most five round trips more; once the whole history is there, a commit that
// is still missing is not in the remote (ErrNotFound, as before).

// deepenSteps are the depths deepen asks for in turn; the last is git's "infinite".
var deepenSteps = []int{16, 256, 4096, 65536, math.MaxInt32}

// missingCommit is commitObject not finding a commit: ErrNotFound to callers, and a
// reason for history to deepen.
type missingCommit struct{ error }

func (e *missingCommit) Unwrap() error { return e.error }

// missing says whether err stems from an object the repository does not hold.
func missing(err error) bool {
	return errors.Is(err, plumbing.ErrObjectNotFound) || errors.As(err, new(*missingCommit))
}

// history runs read, which walks history, deepening the repository and running read
// again while read fails on a commit or object the repository does not hold and the
// repository is shallow. A --repo-dir checkout is never shallow (Open deepens it).
func (r *Repo) history(ctx context.Context, read func() error) error {
	for {
		err := read()
		if err == nil || r.local || !missing(err) {
			return err
		}
		more, derr := r.deepen(ctx)
		if derr != nil {
			return derr
		}
		if !more {
			return err
		}
	}
}

// commit is commitObject, deepening the repository until it holds sha or holds the
// whole history.
func (r *Repo) commit(ctx context.Context, sha string) (c *object.Commit, err error) {
	err = r.history(ctx, func() error {
		c, err = r.commitObject(sha)
		return err
	})
	return c, err
}

// deepen fetches the next depth of deepenSteps, and says false when there is nothing
// more to fetch: the repository is not shallow, or the whole history was asked for.
func (r *Repo) deepen(ctx context.Context) (bool, error) {
	shallow, err := r.git.Storer.Shallow()
	if err != nil || len(shallow) == 0 || r.deepened >= len(deepenSteps) {
		return false, err
	}
	opts := r.fetchOptions()
	opts.Depth, opts.Prune = deepenSteps[r.deepened], false
	r.deepened++
	return true, r.cacheLocked(ctx, func() error {
		err := bounded(ctx, r.net, func(ctx context.Context) error { return r.git.FetchContext(ctx, opts) })
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return r.classify("deepening from", err)
		}
		return r.pruneShallow()
	})
}

// pruneShallow drops from the shallow list every commit whose parents are all
// present: go-git records the shallow commits a fetch reports and never drops the
// ones the remote unshallowed, as git does, nor sees that a depth-1 fetch of a new
// tip landed on history already fetched. With no shallow commit left the file goes,
// as "git fetch --unshallow" leaves it.
func (r *Repo) pruneShallow() error {
	shallow, err := r.git.Storer.Shallow()
	if err != nil || len(shallow) == 0 {
		return err
	}
	var still []plumbing.Hash
	for _, h := range shallow {
		c, err := r.git.CommitObject(h)
		complete := err == nil
		for i := 0; complete && i < len(c.ParentHashes); i++ {
			_, err := r.git.Storer.EncodedObject(plumbing.CommitObject, c.ParentHashes[i])
			complete = err == nil
		}
		if !complete {
			still = append(still, h)
		}
	}
	if len(still) == len(shallow) {
		return nil
	}
	if len(still) == 0 {
		// No shallow file at all: git takes an empty one for a shallow repository.
		if fs, ok := r.git.Storer.(interface{ Filesystem() billy.Filesystem }); ok {
			if err := fs.Filesystem().Remove("shallow"); err == nil || errors.Is(err, os.ErrNotExist) {
				return nil
			}
		}
	}
	return r.git.Storer.SetShallow(still)
}

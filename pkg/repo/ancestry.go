package repo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// IsAncestor says whether commit ancestor is descendant or one of its ancestors. A
// descendant the repository does not have yet (a commit pushed by someone else since
// the last fetch) is fetched first; one the remote does not have either is not a
// descendant.
func (r *Repo) IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error) {
	defer r.lock(ctx)()
	if ancestor == descendant {
		return true, nil
	}
	d, err := r.commitObject(descendant)
	if err != nil {
		if ferr := r.fetch(ctx); ferr != nil {
			return false, ferr
		}
		if d, err = r.commit(ctx, descendant); err != nil {
			return false, nil
		}
	}
	a, err := r.commit(ctx, ancestor)
	if err != nil {
		return false, nil
	}
	var ok bool
	err = r.history(ctx, func() (err error) {
		ok, err = isAncestor(ctx, a, d)
		return err
	})
	return ok, err
}

// descends says whether commit is head or one of its ancestors, in the objects fetched.
func (r *Repo) descends(ctx context.Context, head, commit string) (bool, error) {
	h, err := r.commit(ctx, head)
	if err != nil {
		return false, err
	}
	c, err := r.commit(ctx, commit)
	if err != nil {
		return false, nil
	}
	var ok bool
	err = r.history(ctx, func() (err error) {
		ok, err = isAncestor(ctx, c, h)
		return err
	})
	return ok, err
}

// isAncestor says whether a is d or one of its ancestors. It walks d's ancestors
// looking for a and, a step at a time beside it, a's ancestors looking for d: when d
// is older than a (a promotion asked about a revision Flux fetched before it), the
// second walk finds d as far back as d is, where the first alone would read d's
// whole history, deepening a shallow repository to its root, before saying no. The
// second walk only ever shortens the answer: it stops, without an error, at the end
// of what the repository holds. A parent of the first walk that the repository does
// not hold is plumbing.ErrObjectNotFound (history deepens and asks again).
func isAncestor(ctx context.Context, a, d *object.Commit) (bool, error) {
	up, down := newAncestry(d), newAncestry(a)
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		c, err := up.next()
		if c != nil && c.Hash == a.Hash {
			return true, nil
		}
		if err != nil || c == nil {
			return false, err
		}
		if down == nil {
			continue
		}
		c, err = down.next()
		if c != nil && c.Hash == d.Hash {
			return false, nil // d is a's ancestor, and not a
		}
		if err != nil || c == nil {
			down = nil
		}
	}
}

// ancestry visits the ancestors of a commit (itself first) breadth-first, each once.
type ancestry struct {
	queue []*object.Commit
	seen  map[plumbing.Hash]bool
}

func newAncestry(c *object.Commit) *ancestry {
	return &ancestry{queue: []*object.Commit{c}, seen: map[plumbing.Hash]bool{c.Hash: true}}
}

// next is the next ancestor, nil when there is none left; a parent of it the
// repository does not hold is plumbing.ErrObjectNotFound, returned with it.
func (w *ancestry) next() (*object.Commit, error) {
	if len(w.queue) == 0 {
		return nil, nil
	}
	c := w.queue[0]
	w.queue = w.queue[1:]
	err := c.Parents().ForEach(func(p *object.Commit) error {
		if !w.seen[p.Hash] {
			w.seen[p.Hash] = true
			w.queue = append(w.queue, p)
		}
		return nil
	})
	return c, err
}

// PushUnknownError says a push may or may not have landed: the connection failed
// (or the deadline passed) while the server had the pack, and the branch could not
// be read back to tell. The commit is the one that may now be the branch head.
type PushUnknownError struct {
	Commit, Branch, URL string
	Err                 error
}

func (e *PushUnknownError) Error() string {
	return fmt.Sprintf("the push of %s to branch %q of %s may have landed but could not be confirmed (%v); check the branch with \"git ls-remote\"",
		ShortSHA(e.Commit), e.Branch, e.URL, e.Err)
}

func (e *PushUnknownError) Unwrap() error { return e.Err }

// confirmTimeout bounds reading a branch back after a push whose answer was lost.
const confirmTimeout = 15 * time.Second

// landed reads branch back from the remote after a push that failed without a clear
// refusal, on its own deadline (the caller's may be what ended the push). It says
// whether the branch now has commit (is it, or descends from it); an error when it cannot tell.
func (r *Repo) landed(ctx context.Context, branch, commit string) (bool, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), confirmTimeout)
	defer cancel()
	var err error
	for delay := 250 * time.Millisecond; cctx.Err() == nil; delay *= 2 {
		if err = r.fetch(cctx); err == nil {
			head, herr := r.branchHead(branch)
			if errors.Is(herr, ErrNotFound) {
				return false, nil
			}
			if herr != nil || head == commit {
				return herr == nil, herr
			}
			// Another push may have landed on top of ours since.
			return r.descends(cctx, head, commit)
		}
		select {
		case <-cctx.Done():
		case <-time.After(delay):
		}
	}
	return false, err
}

// transportGrace is how long a Git network operation may go on after its context
// ended before it is abandoned: go-git's SSH transport does not watch the context
// during the handshake, so a server that accepts the connection and never answers
// would hang the command past --timeout.
const transportGrace = 2 * time.Second

// netGate lets one go-git network operation at a time run on a repository: an
// operation bounded abandoned holds it until it ends by itself, so the next one
// (a retried push, a fetch) never runs beside it on the same repository.
type netGate chan struct{}

func newNetGate() netGate { return make(netGate, 1) }

// bounded runs a go-git network operation once gate is free and returns its error,
// or ctx's error once ctx has ended and the operation has not returned within
// transportGrace (the operation is then left to end by itself, holding gate until
// it does).
func bounded(ctx context.Context, gate netGate, op func(context.Context) error) error {
	select {
	case gate <- struct{}{}:
	default:
		select {
		case gate <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-gate }()
		done <- op(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(transportGrace):
		return ctx.Err()
	}
}

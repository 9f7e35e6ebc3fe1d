package repo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// MergeOptions tunes MergeTree.
type MergeOptions struct {
	// Unrevert are commits on ours' side since the merge base (rollbacks), newest
	// first, whose changes are undone in ours before merging: a change the target
	// rolled back comes back with the source instead of conflicting with it, as
	// reverting the revert does in Git. When undoing one conflicts, none is undone.
	Unrevert []string
}

// Merge is the three-way merge of theirs into ours, computed in the object store.
type Merge struct {
	Ours, Theirs string
	// Base is the merge base (the newest common ancestor); "" when they share none.
	Base string
	// UpToDate says theirs is already in ours: there is nothing to merge.
	UpToDate bool
	// FastForward says ours is an ancestor of theirs.
	FastForward bool
	// Files are the paths whose content the merge changes relative to ours, sorted.
	Files []string
	tree  plumbing.Hash
}

// MergeConflictError is a merge that cannot be made because both sides changed the
// same paths differently since their merge base (see ErrConflict).
type MergeConflictError struct {
	Ours, Theirs, Base string
	Files              []string
}

func (e *MergeConflictError) Error() string {
	return fmt.Sprintf("cannot merge %s into %s: both changed %s since %s; nothing was pushed: merge them by hand on the target branch, or promote the images only with --strategy images",
		ShortSHA(e.Theirs), ShortSHA(e.Ours), strings.Join(e.Files, ", "), ShortSHA(e.Base))
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *MergeConflictError) Is(target error) bool { return target == ErrConflict }

// MergeTree merges commit theirs into commit ours the way "git merge" does for text
// files: per path changed on either side since the merge base, a change on one side
// only is taken, the same change on both is taken once, and different changes to a
// text file are merged line by line when they touch neither the same nor adjoining
// lines. Anything else is a *MergeConflictError naming every conflicting path.
// Nothing is written to any branch; the merged tree is stored in the object store.
func (r *Repo) MergeTree(ctx context.Context, ours, theirs string, o MergeOptions) (*Merge, error) {
	defer r.lock(ctx)()
	ctx = context.WithValue(ctx, lockKey{r}, true)
	var oc, tc *object.Commit
	var m *Merge
	var bases []*object.Commit
	err := r.history(ctx, func() (err error) {
		oc, tc, m, bases, err = r.mergeBase(ours, theirs)
		return err
	})
	if err != nil || m.UpToDate {
		return m, err
	}
	baseTree := &object.Tree{}
	if len(bases) > 0 {
		m.Base = bases[0].Hash.String()
		if baseTree, err = bases[0].Tree(); err != nil {
			return nil, err
		}
	}
	oursTree, err := oc.Tree()
	if err != nil {
		return nil, err
	}
	theirsTree, err := tc.Tree()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "kubectl-promote-merge-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "tree")
	if err := r.checkout(ctx, m.Ours, dir); err != nil {
		return nil, err
	}
	defer delete(r.heads, absDir(dir))
	if len(o.Unrevert) > 0 && !m.FastForward {
		if t, ok := r.unrevert(ctx, dir, oursTree, o.Unrevert); ok {
			oursTree = t
		}
	}
	conflicts, err := r.merge3Trees(ctx, dir, baseTree, oursTree, theirsTree)
	if err != nil {
		return nil, err
	}
	if len(conflicts) > 0 {
		return nil, &MergeConflictError{Ours: m.Ours, Theirs: m.Theirs, Base: m.Base, Files: conflicts}
	}
	if err := r.recordMerge(ctx, m, oc, dir); err != nil {
		return nil, err
	}
	return m, nil
}

// recordMerge stores the merged tree in dir as m's tree, and the files it changes
// from ours (oc's own tree, before any unrevert).
func (r *Repo) recordMerge(ctx context.Context, m *Merge, oc *object.Commit, dir string) error {
	realOurs, err := oc.Tree()
	if err != nil {
		return err
	}
	if m.tree, err = r.storeDir(ctx, dir, realOurs); err != nil {
		return fmt.Errorf("recording the merge: %w", err)
	}
	merged, err := r.git.TreeObject(m.tree)
	if err != nil && m.tree != emptyTreeHash {
		return err
	}
	if merged == nil {
		merged = &object.Tree{}
	}
	m.Files, err = changedFiles(realOurs, merged)
	return err
}

// mergeBase reads what MergeTree merges: the two commits, whether theirs is already
// in ours (m.UpToDate) or ours in theirs (m.FastForward), and their merge bases.
func (r *Repo) mergeBase(ours, theirs string) (oc, tc *object.Commit, m *Merge, bases []*object.Commit, err error) {
	if oc, err = r.commitObject(ours); err != nil {
		return
	}
	if tc, err = r.commitObject(theirs); err != nil {
		return
	}
	m = &Merge{Ours: oc.Hash.String(), Theirs: tc.Hash.String()}
	if ok, err := tc.IsAncestor(oc); err != nil {
		return oc, tc, m, nil, err
	} else if ok || oc.Hash == tc.Hash {
		m.UpToDate, m.Base = true, m.Theirs
		return oc, tc, m, nil, nil
	}
	if m.FastForward, err = oc.IsAncestor(tc); err != nil {
		return
	}
	bases, err = oc.MergeBase(tc)
	return
}

// unrevert undoes the commits in dir (a checkout of ours) and returns the tree it
// then holds; on a conflict it restores dir and reports false.
func (r *Repo) unrevert(ctx context.Context, dir string, ours *object.Tree, shas []string) (*object.Tree, bool) {
	undo := func() {
		os.RemoveAll(dir)
		_ = os.MkdirAll(dir, 0o755)
		root, err := os.OpenRoot(dir)
		if err == nil {
			_ = writeTree(ctx, root, ".", ours)
			root.Close()
		}
	}
	for _, sha := range shas {
		if _, err := r.RevertInto(ctx, sha, dir); err != nil {
			undo()
			return nil, false
		}
	}
	h, err := r.storeDir(ctx, dir, ours)
	if err != nil {
		undo()
		return nil, false
	}
	t, err := r.git.TreeObject(h)
	if err != nil {
		undo()
		return nil, false
	}
	return t, true
}

// merge3Trees writes into dir (holding ours) the merge of the changes base→theirs,
// and returns the conflicting paths, sorted; dir is only written when there are none.
func (r *Repo) merge3Trees(ctx context.Context, dir string, base, ours, theirs *object.Tree) ([]string, error) {
	paths, err := changedFiles(base, theirs)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var writes []pathWrite
	var conflicts []string
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := treeState(base, p)
		if err != nil {
			return nil, err
		}
		t, err := treeState(theirs, p)
		if err != nil {
			return nil, err
		}
		o, err := treeState(ours, p)
		if err != nil {
			return nil, err
		}
		switch {
		case o.equal(t):
			// Both made the same change, or ours already has it.
			if cur, err := dirState(root, p); err == nil && !cur.equal(t) {
				writes = append(writes, pathWrite{p, t})
			}
		case o.equal(b):
			writes = append(writes, pathWrite{p, t})
		case o.exists && t.exists && b.exists && o.mode == t.mode && t.mode == b.mode && t.mode != filemode.Symlink && t.mode != filemode.Submodule:
			merged, ok := merge3(b.data, o.data, t.data)
			if !ok {
				conflicts = append(conflicts, p)
				continue
			}
			writes = append(writes, pathWrite{p, fileState{exists: true, mode: o.mode, data: merged}})
		default:
			conflicts = append(conflicts, p)
		}
	}
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		return conflicts, nil
	}
	_, err = writeStates(root, writes)
	return nil, err
}

// CheckoutMerge writes the merged tree of m into dir, which must not exist or be empty.
func (r *Repo) CheckoutMerge(ctx context.Context, m *Merge, dir string) error {
	if m.UpToDate {
		return r.Checkout(ctx, m.Ours, dir)
	}
	defer r.lock(ctx)()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tree := &object.Tree{}
	if m.tree != emptyTreeHash {
		t, err := r.git.TreeObject(m.tree)
		if err != nil {
			return err
		}
		tree = t
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return writeTree(ctx, root, ".", tree)
}

// CommitMerge stores the merge commit of m with parents ours and theirs, in that
// order (so first-parent history stays the target branch's), and returns its SHA.
// It is not pushed; Land pushes it.
func (r *Repo) CommitMerge(ctx context.Context, m *Merge, spec CommitSpec) (string, error) {
	defer r.lock(ctx)()
	if m.UpToDate {
		return "", fmt.Errorf("nothing to merge: %s is already in %s", ShortSHA(m.Theirs), ShortSHA(m.Ours))
	}
	if spec.Author.Name == "" || spec.Author.Email == "" {
		return "", fmt.Errorf("no commit author: pass --author \"Name <email>\"")
	}
	subject, body, _ := strings.Cut(strings.TrimSpace(spec.Message), "\n")
	sig := object.Signature{Name: spec.Author.Name, Email: spec.Author.Email, When: time.Now()}
	c := &object.Commit{
		Author: sig, Committer: sig,
		Message:      FormatMessage(subject, body, spec.Trailers),
		TreeHash:     m.tree,
		ParentHashes: []plumbing.Hash{plumbing.NewHash(m.Ours), plumbing.NewHash(m.Theirs)},
	}
	var err error
	if c.PGPSignature, err = r.signObject(c); err != nil {
		return "", err
	}
	h, err := r.storeObject(c)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// Range lists the commits reachable from tip but not from base ("git log base..tip"),
// newest first by committer time, at most limit of them (0: all), and how many there
// are in all.
func (r *Repo) Range(ctx context.Context, base, tip string, limit int) ([]Commit, int, error) {
	defer r.lock(ctx)()
	var found []*object.Commit
	err := r.history(ctx, func() error {
		var err error
		found, err = r.rangeCommits(ctx, base, tip)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Committer.When.After(found[j].Committer.When) })
	n := len(found)
	if limit > 0 && len(found) > limit {
		found = found[:limit]
	}
	out := make([]Commit, len(found))
	for i, c := range found {
		out[i] = toCommit(c, nil)
	}
	return out, n, nil
}

// rangeCommits lists the commits reachable from tip but not from base, unsorted, as
// "git rev-list base..tip" does: one walk from both ends, newest committer first,
// where what base reaches is marked uninteresting and passes the mark on to its
// parents. The walk ends once every commit left to visit is uninteresting and older,
// by more than maxClockSkew, than the oldest commit of the range: none of them can
// lead back into it. It reads about as many commits as the range holds, not the whole
// history behind base, so a shallow repository deepens only that far.
func (r *Repo) rangeCommits(ctx context.Context, base, tip string) ([]*object.Commit, error) {
	t, err := r.commitObject(tip)
	if err != nil {
		return nil, err
	}
	w := &rangeWalk{flags: map[plumbing.Hash]uint8{}, parents: map[plumbing.Hash][]*object.Commit{}}
	w.add(t, 0)
	if base != "" {
		b, err := r.commitObject(base)
		if err != nil {
			return nil, err
		}
		w.add(b, uninteresting)
	}
	if err := w.run(ctx); err != nil {
		return nil, err
	}
	var found []*object.Commit
	for _, c := range w.visited {
		if w.flags[c.Hash]&uninteresting == 0 {
			found = append(found, c)
		}
	}
	return found, nil
}

// maxClockSkew is how much older than one of its ancestors a commit may be dated (its
// committer's clock behind) with Range still exact; git's own rev-list allows five
// commits.
const maxClockSkew = 5 * time.Minute

const (
	uninteresting uint8 = 1 << iota // reachable from base
	queued                          // added to the walk
)

// rangeWalk is the state of rangeCommits' walk: a queue ordered by committer time,
// newest first, the flags and parents of every commit it has read, and the oldest
// commit date of the range so far.
type rangeWalk struct {
	queue   []*object.Commit
	flags   map[plumbing.Hash]uint8
	parents map[plumbing.Hash][]*object.Commit
	visited []*object.Commit
	oldest  time.Time
}

// add queues c with flag, or adds flag to it when it is queued or read already.
func (w *rangeWalk) add(c *object.Commit, flag uint8) {
	if w.flags[c.Hash]&queued != 0 {
		if flag != 0 {
			w.markUninteresting(c)
		}
		return
	}
	w.flags[c.Hash] |= flag | queued
	i := sort.Search(len(w.queue), func(i int) bool { return w.queue[i].Committer.When.Before(c.Committer.When) })
	w.queue = slices.Insert(w.queue, i, c)
}

// markUninteresting marks c and every ancestor of it the walk has already read.
func (w *rangeWalk) markUninteresting(c *object.Commit) {
	stack := []*object.Commit{c}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if w.flags[c.Hash]&uninteresting != 0 {
			continue
		}
		w.flags[c.Hash] |= uninteresting
		stack = append(stack, w.parents[c.Hash]...)
	}
}

func (w *rangeWalk) run(ctx context.Context) error {
	for len(w.queue) > 0 && !w.done() {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := w.queue[0]
		w.queue = w.queue[1:]
		w.visited = append(w.visited, c)
		flag := w.flags[c.Hash] & uninteresting
		if flag == 0 && (w.oldest.IsZero() || c.Committer.When.Before(w.oldest)) {
			w.oldest = c.Committer.When
		}
		err := c.Parents().ForEach(func(p *object.Commit) error {
			w.parents[c.Hash] = append(w.parents[c.Hash], p)
			w.add(p, flag)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// done says whether nothing left to visit can be in the range or lead back into it.
func (w *rangeWalk) done() bool {
	for _, c := range w.queue {
		if w.flags[c.Hash]&uninteresting == 0 {
			return false
		}
	}
	return w.oldest.IsZero() || w.queue[0].Committer.When.Add(maxClockSkew).Before(w.oldest)
}

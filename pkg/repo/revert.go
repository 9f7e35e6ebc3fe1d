package repo

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/pmezard/go-difflib/difflib"
)

// fileState is a path's content in a tree or a directory.
type fileState struct {
	exists bool
	mode   filemode.FileMode // Regular, Executable or Symlink
	data   []byte            // file content or link target
}

func (a fileState) equal(b fileState) bool {
	if !a.exists || !b.exists {
		return a.exists == b.exists
	}
	return a.mode == b.mode && bytes.Equal(a.data, b.data)
}

// RevertInto applies the inverse of commit sha's changes (relative to its first
// parent) to the files in dir, typically the directory an ApplyFunc received, and
// returns the paths it changed, sorted. Per file: if the file in dir is still as sha
// left it, it is restored to its state before sha (deleted if sha added it); if it is
// already as before sha, it is left alone; if it changed since, a text file whose later
// edits do not touch or adjoin the lines sha changed is merged line by line, and any
// other case is a *ConflictError naming the files and, when dir came from
// CommitAndPush or Checkout, the later commits that touched them. On conflict dir is
// left unchanged.
func (r *Repo) RevertInto(ctx context.Context, sha, dir string) ([]string, error) {
	defer r.lock(ctx)()
	var c *object.Commit
	before, after := &object.Tree{}, &object.Tree{}
	err := r.history(ctx, func() (err error) {
		if c, err = r.commitObject(sha); err != nil {
			return err
		}
		if after, err = c.Tree(); err != nil || c.NumParents() == 0 {
			return err
		}
		p, err := c.Parent(0)
		if err != nil {
			return err
		}
		before, err = p.Tree()
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.revertTrees(ctx, c.Hash, before, after, dir)
}

// RevertRangeInto is RevertInto for the commits from (excluded) to to (included) as
// one change: the difference between their trees, as a fast-forward promotion made it.
func (r *Repo) RevertRangeInto(ctx context.Context, from, to, dir string) ([]string, error) {
	defer r.lock(ctx)()
	fc, err := r.commit(ctx, from)
	if err != nil {
		return nil, err
	}
	tc, err := r.commit(ctx, to)
	if err != nil {
		return nil, err
	}
	before, err := fc.Tree()
	if err != nil {
		return nil, err
	}
	after, err := tc.Tree()
	if err != nil {
		return nil, err
	}
	return r.revertTrees(ctx, tc.Hash, before, after, dir)
}

// revertTrees applies the inverse of before→after to dir; commit names the change
// in a conflict.
func (r *Repo) revertTrees(ctx context.Context, commit plumbing.Hash, before, after *object.Tree, dir string) ([]string, error) {
	paths, err := changedFiles(before, after)
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
		b, err := treeState(before, p)
		if err != nil {
			return nil, err
		}
		a, err := treeState(after, p)
		if err != nil {
			return nil, err
		}
		cur, err := dirState(root, p)
		if err != nil {
			return nil, err
		}
		switch {
		case cur.equal(b):
			// Already reverted.
		case cur.equal(a):
			writes = append(writes, pathWrite{p, b})
		case cur.exists && a.exists && b.exists && cur.mode == a.mode && a.mode == b.mode && a.mode != filemode.Symlink:
			merged, ok := merge3(a.data, cur.data, b.data)
			if !ok {
				conflicts = append(conflicts, p)
				continue
			}
			writes = append(writes, pathWrite{p, fileState{exists: true, mode: cur.mode, data: merged}})
		default:
			conflicts = append(conflicts, p)
		}
	}
	if len(conflicts) > 0 {
		ce := &ConflictError{Commit: commit.String(), Files: conflicts}
		if head, ok := r.heads[absDir(dir)]; ok {
			ce.Since = r.touchingSince(ctx, head, commit, conflicts)
		}
		return nil, ce
	}
	return writeStates(root, writes)
}

// pathWrite is one path to set to a state.
type pathWrite struct {
	path  string
	state fileState
}

// writeStates writes every state under root and returns the paths written, sorted.
func writeStates(root *os.Root, writes []pathWrite) ([]string, error) {
	var changed []string
	for _, w := range writes {
		if err := writeState(root, w.path, w.state); err != nil {
			return nil, err
		}
		changed = append(changed, w.path)
	}
	sort.Strings(changed)
	return changed, nil
}

// touchingSince lists the first-parent commits from head down to (excluding) stop
// that change any of files, newest first, deepening a shallow repository to reach stop.
func (r *Repo) touchingSince(ctx context.Context, head string, stop plumbing.Hash, files []string) []string {
	var out []string
	_ = r.history(ctx, func() error {
		var err error
		out, err = r.touching(head, stop, files)
		return err
	})
	return out
}

// touching is touchingSince in the commits the repository holds; a missing parent is
// an error.
func (r *Repo) touching(head string, stop plumbing.Hash, files []string) ([]string, error) {
	var out []string
	c, err := r.git.CommitObject(plumbing.NewHash(head))
	for err == nil && c.Hash != stop && len(out) < 20 {
		var parent *object.Commit
		ptree := &object.Tree{}
		if c.NumParents() > 0 {
			if parent, err = c.Parent(0); err != nil {
				return out, err
			}
			ptree, _ = parent.Tree()
		}
		tree, terr := c.Tree()
		if terr != nil || ptree == nil {
			break
		}
		for _, f := range files {
			if entryHash(tree, f) != entryHash(ptree, f) {
				out = append(out, c.Hash.String())
				break
			}
		}
		if parent == nil {
			break
		}
		c = parent
	}
	return out, nil
}

func treeState(t *object.Tree, p string) (fileState, error) {
	e, err := t.FindEntry(p)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || (err == nil && e.Mode == filemode.Dir) {
		return fileState{}, nil
	}
	if err != nil {
		return fileState{}, err
	}
	if e.Mode == filemode.Submodule {
		return fileState{exists: true, mode: e.Mode, data: []byte(e.Hash.String())}, nil
	}
	f, err := t.TreeEntryFile(e)
	if err != nil {
		return fileState{}, err
	}
	s, err := f.Contents()
	if err != nil {
		return fileState{}, err
	}
	mode := e.Mode
	if mode == filemode.Deprecated {
		mode = filemode.Regular
	}
	return fileState{exists: true, mode: mode, data: []byte(s)}, nil
}

func dirState(root *os.Root, p string) (fileState, error) {
	fi, err := root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrNotExist) {
		return fileState{}, nil
	}
	if err != nil {
		// A parent that is not a directory, or a link out of dir: not a file we
		// can compare; report it as something that matches nothing.
		return fileState{exists: true, mode: filemode.Empty}, nil
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		t, err := root.Readlink(p)
		if err != nil {
			return fileState{}, err
		}
		return fileState{exists: true, mode: filemode.Symlink, data: []byte(t)}, nil
	case fi.Mode().IsRegular():
		data, err := root.ReadFile(p)
		if err != nil {
			return fileState{}, err
		}
		mode := filemode.Regular
		if fi.Mode().Perm()&0o111 != 0 {
			mode = filemode.Executable
		}
		return fileState{exists: true, mode: mode, data: data}, nil
	case fi.IsDir():
		if entries, _ := os.ReadDir(path.Join(root.Name(), p)); len(entries) == 0 {
			return fileState{}, nil
		}
	}
	return fileState{exists: true, mode: filemode.Empty}, nil
}

func writeState(root *os.Root, p string, s fileState) error {
	if !s.exists {
		if err := root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if dir := path.Dir(p); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if fi, err := root.Lstat(p); err == nil && (fi.Mode()&os.ModeSymlink != 0 || s.mode == filemode.Symlink) {
		if err := root.Remove(p); err != nil {
			return err
		}
	}
	switch s.mode {
	case filemode.Symlink:
		return root.Symlink(string(s.data), p)
	case filemode.Submodule:
		return root.MkdirAll(p, 0o755)
	}
	perm := os.FileMode(0o644)
	if s.mode == filemode.Executable {
		perm = 0o755
	}
	if err := root.WriteFile(p, s.data, perm); err != nil {
		return err
	}
	return root.Chmod(p, perm)
}

// hunk is a change from base lines [o1, o2) to lines of another version.
type hunk struct {
	o1, o2 int
	lines  []string
}

// merge3 merges the changes base→ours and base→theirs of three text files line by
// line. It fails (ok false) on binary content and when the two sides change the same
// or adjoining lines differently.
func merge3(base, ours, theirs []byte) ([]byte, bool) {
	for _, b := range [][]byte{base, ours, theirs} {
		if bytes.IndexByte(b, 0) >= 0 {
			return nil, false
		}
	}
	o, a, b := splitLines(base), splitLines(ours), splitLines(theirs)
	ha, hb := hunks(o, a), hunks(o, b)
	var out []string
	pos, i, j := 0, 0, 0
	for i < len(ha) || j < len(hb) {
		var h hunk
		switch {
		case j >= len(hb) || (i < len(ha) && ha[i].o2 < hb[j].o1):
			// Only ours, or ours ends before theirs starts with a line between.
			h = ha[i]
			i++
		case i >= len(ha) || hb[j].o2 < ha[i].o1:
			h = hb[j]
			j++
		case ha[i].o1 == hb[j].o1 && ha[i].o2 == hb[j].o2 && slicesEqual(ha[i].lines, hb[j].lines):
			// Overlapping but identical: the same change on both sides.
			h = ha[i]
			i++
			j++
		default:
			// Overlapping or adjoining different changes.
			return nil, false
		}
		out = append(out, o[pos:h.o1]...)
		out = append(out, h.lines...)
		pos = h.o2
	}
	out = append(out, o[pos:]...)
	return []byte(strings.Join(out, "")), true
}

func hunks(base, other []string) []hunk {
	m := difflib.NewMatcherWithJunk(base, other, false, nil)
	var out []hunk
	for _, op := range m.GetOpCodes() {
		if op.Tag == 'e' {
			continue
		}
		out = append(out, hunk{o1: op.I1, o2: op.I2, lines: other[op.J1:op.J2]})
	}
	return out
}

func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

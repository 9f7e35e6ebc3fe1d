package repo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// NotesRef holds kubectl-promote's Git notes: the provenance of a promotion that made
// no commit of its own (a fast-forward), attached to the commit it moved the branch
// to. "git log --notes=kubectl-promote" shows them.
const NotesRef = "refs/notes/kubectl-promote"

// notesTrackingPrefix is where fetched notes refs are kept, like remote-tracking branches.
func (r *Repo) notesTrackingPrefix() string { return "refs/notes-remote/" + r.remote + "/" }

func (r *Repo) trackedNotes() (*object.Commit, error) {
	ref, err := r.git.Reference(plumbing.ReferenceName(r.notesTrackingPrefix()+strings.TrimPrefix(NotesRef, "refs/notes/")), true)
	if err != nil {
		return nil, nil // no notes yet
	}
	return r.git.CommitObject(ref.Hash())
}

// Notes returns the kubectl-promote notes as of the last fetch, by commit SHA.
func (r *Repo) Notes(ctx context.Context) (map[string]string, error) {
	defer r.lock(ctx)()
	out := map[string]string{}
	c, err := r.trackedNotes()
	if err != nil || c == nil {
		return out, err
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	// Git writes notes as <sha> at the root, or fanned out as <2 hex>/<38 hex>.
	err = tree.Files().ForEach(func(f *object.File) error {
		name := strings.ReplaceAll(f.Name, "/", "")
		if !hexRE.MatchString(name) {
			return nil
		}
		text, err := f.Contents()
		if err != nil {
			return err
		}
		out[name] = text
		return nil
	})
	return out, err
}

// AddNote makes (without pushing) a notes commit that appends text to the note of
// commit sha, on top of the notes as last fetched, and returns the ref update that
// publishes it; Land pushes it atomically with the branch.
func (r *Repo) AddNote(ctx context.Context, sha, text string, author Signature) (RefUpdate, error) {
	defer r.lock(ctx)()
	up := RefUpdate{Name: NotesRef}
	prev, err := r.trackedNotes()
	if err != nil {
		return up, err
	}
	entries := []object.TreeEntry{}
	var parents []plumbing.Hash
	if prev != nil {
		up.Old = prev.Hash.String()
		parents = []plumbing.Hash{prev.Hash}
		tree, err := prev.Tree()
		if err != nil {
			return up, err
		}
		// Flatten a fanned-out tree: the notes of one tool stay few.
		err = tree.Files().ForEach(func(f *object.File) error {
			name := strings.ReplaceAll(f.Name, "/", "")
			if name == sha {
				old, err := f.Contents()
				if err != nil {
					return err
				}
				text = strings.TrimRight(old, "\n") + "\n\n" + text
				return nil
			}
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: f.Hash})
			return nil
		})
		if err != nil {
			return up, err
		}
	}
	blob, err := r.storeBlob([]byte(strings.TrimRight(text, "\n") + "\n"))
	if err != nil {
		return up, err
	}
	entries = append(entries, object.TreeEntry{Name: sha, Mode: filemode.Regular, Hash: blob})
	tree := &object.Tree{Entries: entries}
	sort.Sort(object.TreeEntrySorter(tree.Entries))
	th, err := r.storeObject(tree)
	if err != nil {
		return up, err
	}
	sig := object.Signature{Name: author.Name, Email: author.Email, When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: fmt.Sprintf("Notes added by 'kubectl promote' to %s\n", ShortSHA(sha)), TreeHash: th, ParentHashes: parents}
	if c.PGPSignature, err = r.signObject(c); err != nil {
		return up, err
	}
	h, err := r.storeObject(c)
	if err != nil {
		return up, err
	}
	up.Commit = h.String()
	return up, nil
}

// movedAny says whether one of the refs changed on the remote since it was read
// (as of the fetch just made).
func (r *Repo) movedAny(refs []RefUpdate) bool {
	for _, u := range refs {
		now := ""
		if ref, err := r.git.Reference(plumbing.ReferenceName(r.trackingRef(u.Name)), true); err == nil {
			now = ref.Hash().String()
		}
		if now != u.Old {
			return true
		}
	}
	return false
}

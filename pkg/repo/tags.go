package repo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Tags are fetched into a tracking namespace of their own, as notes are, so that a
// --repo-dir checkout's own refs/tags are never written: the remote's tags are what
// a promotion reads (source-controller reads those), whatever the checkout has.
func (r *Repo) tagsTrackingPrefix() string { return "refs/tags-remote/" + r.remote + "/" }

// trackingRef is the remote-tracking name of a ref pushed beside a branch (a notes
// ref or a tag), as of the last fetch.
func (r *Repo) trackingRef(name string) string {
	if t, ok := strings.CutPrefix(name, "refs/tags/"); ok {
		return r.tagsTrackingPrefix() + t
	}
	return r.notesTrackingPrefix() + strings.TrimPrefix(name, "refs/notes/")
}

// Tag is a tag of the remote as of the last fetch.
type Tag struct {
	// Name is the tag's short name ("v1.2.3").
	Name string
	// Commit is the commit it points at (through an annotated tag object or not).
	Commit string
	// When is that commit's committer time (source-controller breaks ties with it).
	When time.Time
}

// Tags lists the remote's tags that point at commits, by name.
func (r *Repo) Tags(ctx context.Context) ([]Tag, error) {
	defer r.lock(ctx)()
	refs, err := r.git.References()
	if err != nil {
		return nil, err
	}
	defer refs.Close()
	prefix := r.tagsTrackingPrefix()
	var out []Tag
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		name, ok := strings.CutPrefix(ref.Name().String(), prefix)
		if !ok || ref.Type() != plumbing.HashReference {
			return nil
		}
		c, err := r.peel(ref.Hash())
		if err != nil || c == nil {
			return err
		}
		out = append(out, Tag{Name: name, Commit: c.Hash.String(), When: c.Committer.When})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// peel follows tag objects to the commit they name; nil for a tag of a tree or blob.
func (r *Repo) peel(h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		o, err := r.git.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, err
		}
		switch o.Type() {
		case plumbing.CommitObject:
			return object.DecodeCommit(r.git.Storer, o)
		case plumbing.TagObject:
			t, err := object.DecodeTag(r.git.Storer, o)
			if err != nil {
				return nil, err
			}
			h = t.Target
		default:
			return nil, nil
		}
	}
	return nil, fmt.Errorf("tag %s: too many nested tag objects", h)
}

// CreateTag writes an annotated tag object named name on commit into the object
// store (no ref) and returns the ref update that publishes it; Land pushes it
// atomically with the branch. A tag is only ever created, never moved: the push
// fails if the name exists on the remote by then.
func (r *Repo) CreateTag(ctx context.Context, name, commit, message string, tagger Signature) (RefUpdate, error) {
	defer r.lock(ctx)()
	up := RefUpdate{Name: "refs/tags/" + name}
	if !plumbing.ReferenceName(up.Name).IsTag() || strings.ContainsAny(name, " ~^:?*[\\") || strings.Contains(name, "..") {
		return up, fmt.Errorf("tag name %q is not a valid Git ref name", name)
	}
	c, err := r.commit(ctx, commit)
	if err != nil {
		return up, err
	}
	t := &object.Tag{Name: name, Tagger: object.Signature{Name: tagger.Name, Email: tagger.Email, When: time.Now()},
		Message: strings.TrimRight(message, "\n") + "\n", TargetType: plumbing.CommitObject, Target: c.Hash}
	if t.PGPSignature, err = r.signObject(t); err != nil {
		return up, err
	}
	h, err := r.storeObject(t)
	if err != nil {
		return up, err
	}
	up.Commit = h.String()
	return up, nil
}

// CommitOn commits apply's change on head in the object store only (no ref moves)
// and returns the commit and the files it changes, "" when apply changed nothing: a
// MakeFunc builds with it what Land pushes.
func (r *Repo) CommitOn(ctx context.Context, head string, apply ApplyFunc) (string, []string, error) {
	defer r.lock(ctx)()
	return r.applyOnce(ctx, head, apply)
}

// outgoingTags holds, only while a push runs, the tags it creates.
const outgoingTags = "refs/kubectl-promote/outgoing-tags/"

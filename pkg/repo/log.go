package repo

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// LogOptions narrows Log.
type LogOptions struct {
	// Path keeps only commits that change files at or under this slash-separated
	// path relative to the repository root ("" or "." for all; a Flux spec.path
	// such as "./apps/production" works as it is).
	Path string
	// Limit is the maximum number of commits to return; 0 means no limit.
	Limit int
	// Since stops the walk: either a commit (a SHA or a Flux revision), which is
	// excluded with everything before it, or a time, as RFC 3339 or an age such as
	// "36h" or "7d", before which commits are excluded.
	Since string
	// Keep, when set, also keeps the commits it says yes to that do not touch Path
	// (commits with a note).
	Keep func(sha string) bool
}

// Commit is one commit of a branch's history.
type Commit struct {
	SHA       string
	Parent    string // first parent; empty for a root commit
	Subject   string
	Body      string
	Trailers  []Trailer
	Author    Signature
	Committer Signature
	When      time.Time // committer time
	Files     []string  // every path changed relative to Parent (not only under LogOptions.Path), sorted
}

// Log returns the commits of branch (as of the last fetch; a full SHA also works),
// newest first, following first parents, as "git log --first-parent" does.
func (r *Repo) Log(ctx context.Context, branch string, opts LogOptions) ([]Commit, error) {
	defer r.lock(ctx)()
	start := branch
	if !hexRE.MatchString(branch) {
		h, err := r.branchHead(branch)
		if err != nil {
			return nil, err
		}
		start = h
	}
	var stopAt string
	var notBefore time.Time
	if opts.Since != "" {
		if sha, err := flux.CommitSHA(opts.Since); err == nil {
			stopAt = sha
		} else if t, err := parseSince(opts.Since, time.Now()); err == nil {
			notBefore = t
		} else {
			return nil, fmt.Errorf("invalid --since %q: give a commit SHA, a Flux revision, an RFC 3339 time or an age like 7d", opts.Since)
		}
	}
	// Flux writes paths like "./apps/production": clean them to a repository prefix.
	prefix := strings.TrimPrefix(path.Clean("/"+opts.Path), "/")
	var out []Commit
	err := r.history(ctx, func() error {
		var err error
		out, err = r.log(ctx, start, prefix, stopAt, notBefore, opts)
		return err
	})
	return out, err
}

// log walks the first parents of start for Log; a parent the repository does not
// hold (a shallow repository's end) is an error history deepens on.
func (r *Repo) log(ctx context.Context, start, prefix, stopAt string, notBefore time.Time, opts LogOptions) ([]Commit, error) {
	c, err := r.commitObject(start)
	if err != nil {
		return nil, err
	}
	var out []Commit
	for c != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.Hash.String() == stopAt || (!notBefore.IsZero() && c.Committer.When.Before(notBefore)) {
			break
		}
		var parent *object.Commit
		if c.NumParents() > 0 {
			if parent, err = c.Parent(0); err != nil {
				return nil, err
			}
		}
		touched, files, err := commitFiles(c, parent, prefix)
		if err != nil {
			return nil, err
		}
		if touched || (opts.Keep != nil && opts.Keep(c.Hash.String())) {
			out = append(out, mergedPullRequest(toCommit(c, files), c))
			if opts.Limit > 0 && len(out) >= opts.Limit {
				break
			}
		}
		c = parent
	}
	return out, nil
}

// commitFiles reports whether c changes anything under prefix relative to parent and
// lists all files it changes.
func commitFiles(c, parent *object.Commit, prefix string) (bool, []string, error) {
	tree, err := c.Tree()
	if err != nil {
		return false, nil, err
	}
	ptree := &object.Tree{}
	if parent != nil {
		if ptree, err = parent.Tree(); err != nil {
			return false, nil, err
		}
	}
	if prefix != "" && entryHash(tree, prefix) == entryHash(ptree, prefix) {
		return false, nil, nil
	}
	files, err := changedFiles(ptree, tree)
	if err != nil {
		return false, nil, err
	}
	return true, files, nil
}

func entryHash(t *object.Tree, p string) plumbing.Hash {
	e, err := t.FindEntry(p)
	if err != nil {
		return plumbing.ZeroHash
	}
	return e.Hash
}

func toCommit(c *object.Commit, files []string) Commit {
	subject, body, trailers := ParseMessage(c.Message)
	out := Commit{
		SHA:       c.Hash.String(),
		Subject:   subject,
		Body:      body,
		Trailers:  trailers,
		Author:    Signature{Name: c.Author.Name, Email: c.Author.Email},
		Committer: Signature{Name: c.Committer.Name, Email: c.Committer.Email},
		When:      c.Committer.When,
		Files:     files,
	}
	if c.NumParents() > 0 {
		out.Parent = c.ParentHashes[0].String()
	}
	return out
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return time.Time{}, fmt.Errorf("invalid age %q", s)
		}
		return now.Add(-time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("invalid age %q", s)
	}
	return now.Add(-d), nil
}

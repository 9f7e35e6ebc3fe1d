package promote

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/release"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// The tag strategy's undo ("kubectl promote rollback" of a tag target) never moves
// a tag back:
//
//   - a semver range target gets a revert commit on the branch the promotion was
//     committed on and a new, higher tag on it, which the range selects;
//   - a pinned target gets its manifest edited back to the tag it ran before the
//     promotion (Promoted-Previous-Tag), committed on the manifest's branch.
//
// Both read the promotions from the revision the target applied (undo.from): what
// it runs.

// releaseUndo is the tag strategy's plan of an undo.
type releaseUndo struct {
	// tag is the semver undo's new tag, released the tag the range selects now.
	tag      string
	released repo.Tag
	// pin is the pinned undo's manifest edit back to previous.
	pin      *pin
	previous string
}

// planUndo plans the undo of a tag target's promotions u.entries (newest first).
func (s tagStrategy) planUndo(ctx context.Context, w *Workspace, u *undo, res *v1alpha1.Rollback) error {
	if err := toRevert(ctx, w, u, res); err != nil {
		return err
	}
	env, t := w.Target, &releaseUndo{}
	u.release = t
	if s.pinned != "" {
		oldest := u.entries[len(u.entries)-1]
		if oldest.PreviousTag == "" {
			return fmt.Errorf("promotion %s records no tag %s ran before it (Promoted-Previous-Tag): pin GitRepository %s/%s back by hand", repo.ShortSHA(oldest.Commit), env.Name, env.Source.Namespace, env.Source.Name)
		}
		p, head, err := preparePin(ctx, w, oldest.PreviousTag)
		if err != nil {
			return err
		}
		t.pin, t.previous, u.branch = p, oldest.PreviousTag, p.Branch
		p.previous = s.pinned
		res.Target.Revision = p.Branch + "@sha1:" + head
		res.Pin = p.describe()
		res.Files = []v1alpha1.File{{Path: p.file.Path, Diff: p.change().UnifiedDiff()}}
		return nil
	}
	branch, err := w.Repo.BranchContaining(ctx, u.entries[0].Commit)
	if err != nil {
		return err
	}
	if branch == "" {
		return fmt.Errorf("no branch of %s has promotion %s: there is nowhere to commit its revert", w.Repo.URL(), repo.ShortSHA(u.entries[0].Commit))
	}
	u.branch = branch
	head, err := w.Repo.BranchHead(ctx, branch)
	if err != nil {
		return err
	}
	// The new tag releases the branch's head: refuse what it would release besides.
	since, err := w.Repo.Log(ctx, head, repo.LogOptions{Path: env.Kustomization.Spec.Path, Since: u.from})
	if err != nil {
		return err
	}
	if len(since) > 0 {
		var list []string
		for _, c := range since {
			list = append(list, repo.ShortSHA(c.SHA)+" "+c.Subject)
		}
		return fmt.Errorf("branch %q has changes to %s since the revision it runs (%s), which the rollback's new tag would release with the revert: %s; nothing was pushed: release or revert them first",
			branch, env.Name, repo.ShortSHA(u.from), strings.Join(list, "; "))
	}
	cur, tags, err := s.released(ctx, w)
	if err != nil {
		return err
	}
	if t.tag, err = release.NextTag(cur.Name, release.BumpPatch); err != nil {
		return err
	}
	if err := release.CheckSelects(w.TargetRef.SemVer, t.tag, tags); err != nil {
		return fmt.Errorf("the rollback's tag %s for %s: %w; nothing was pushed", t.tag, env.Name, err)
	}
	t.released = cur
	res.Tag = t.tag
	res.Target.Revision = cur.Name + "@sha1:" + cur.Commit
	res.Files, err = w.previewRevert(ctx, head, u.entries)
	return err
}

// Undo lands what planUndo planned: the previous pin, or the revert and its new
// tag in one atomic push. --rollback-on-failure is refused up front (refusals.go),
// so only "kubectl promote rollback" plans one.
func (s tagStrategy) Undo(ctx context.Context, w *Workspace, _ Channel, u *undo) (*undone, error) {
	switch {
	case u.release == nil:
		return nil, fmt.Errorf("%s: undo a release with \"kubectl promote rollback\"", s.Name())
	case u.release.pin != nil:
		return s.undoPin(ctx, w, u)
	}
	t, env := u.release, w.Target
	trailers := append(u.trailers(), repo.Trailer{Key: history.TrailerTag, Value: t.tag}, repo.Trailer{Key: history.TrailerPreviousTag, Value: t.released.Name})
	spec := &repo.CommitSpec{Message: u.subject(), Trailers: trailers, Author: u.author}
	u.progress.Doing("reverting %d promotion(s) on branch %s and tagging the revert %s", len(u.entries), u.branch, t.tag)
	pushed, err := w.Repo.Land(ctx, u.branch, func(ctx context.Context, head string) (*repo.Made, error) {
		commit, files, err := w.Repo.CommitOn(ctx, head, func(ctx context.Context, _, dir string) (*repo.CommitSpec, error) {
			_, err := history.RevertInto(ctx, w.Repo, u.entries, dir)
			return spec, err
		})
		if err != nil || commit == "" {
			return nil, err
		}
		msg := release.Message(t.tag, env.Name, t.released.Name, nil, spec)
		tag, err := w.Repo.CreateTag(ctx, t.tag, commit, msg, u.author)
		if err != nil {
			return nil, err
		}
		return &repo.Made{Commit: commit, Files: files, Also: []repo.RefUpdate{tag}}, nil
	}, repo.PushOptions{MaxAttempts: 1})
	if err != nil || pushed.NoOp {
		return &undone{noop: pushed != nil && pushed.NoOp}, err
	}
	c := commitOf(pushed, spec)
	c.Revision = t.tag + "@sha1:" + pushed.Commit
	u.progress.Done("pushed %s to branch %s with tag %s (%s)", repo.ShortSHA(pushed.Commit), u.branch, t.tag, spec.Message)
	return &undone{commit: c, follow: pushed.Commit}, nil
}

// undoPin commits the pin back to the previous tag on the manifest's branch; what
// the target will run is the previous tag's commit, after the manifest commit.
func (s tagStrategy) undoPin(ctx context.Context, w *Workspace, u *undo) (*undone, error) {
	t, env := u.release, w.Target
	trailers := append(u.trailers(), repo.Trailer{Key: history.TrailerTag, Value: t.previous})
	var spec *repo.CommitSpec
	u.progress.Doing("pinning GitRepository %s/%s back to %s on branch %s", env.Source.Namespace, env.Source.Name, t.previous, u.branch)
	pushed, err := w.Repo.CommitAndPush(ctx, u.branch, func(ctx context.Context, _, dir string) (*repo.CommitSpec, error) {
		if _, err := setPin(ctx, t.pin, dir, t.previous); err != nil {
			return nil, err
		}
		spec = &repo.CommitSpec{Message: u.subject(), Trailers: trailers, Author: u.author}
		return spec, nil
	}, repo.PushOptions{MaxAttempts: u.attempts})
	if err != nil || pushed.NoOp {
		return &undone{noop: pushed != nil && pushed.NoOp}, err
	}
	tags, _ := w.Repo.Tags(ctx)
	for _, tg := range tags {
		if tg.Name == t.previous {
			u.progress.Done("pushed %s to branch %s (%s)", repo.ShortSHA(pushed.Commit), u.branch, spec.Message)
			return &undone{commit: commitOf(pushed, spec), follow: tg.Commit, via: &via{env: t.pin.Via, commit: pushed.Commit}}, nil
		}
	}
	return &undone{commit: commitOf(pushed, spec)}, fmt.Errorf("tag %s vanished from %s", t.previous, w.Repo.URL())
}

package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// A rollback of a tag target never moves a tag back:
//
//   - a semver range target gets a revert commit on the branch the promotion was
//     committed on and a new, higher tag on it, which the range selects;
//   - a pinned target gets its manifest edited back to the tag it ran before the
//     promotion (Promoted-Previous-Tag), committed on the manifest's branch.
//
// Both read the promotions from the revision the target applied: what it runs.

// tagRollback is the plan of a rollback of a tag target.
type tagRollback struct {
	// applied is the commit the target runs.
	applied string
	// tag is the semver rollback's new tag, released the tag the range selects now.
	tag      string
	released repo.Tag
	// pin is the pinned rollback's manifest edit back to previous.
	pin      *pin
	previous string
}

// appliedCommit is the commit a tag target runs, from its lastAppliedRevision.
func appliedCommit(env *flux.Environment) (string, error) {
	rev := env.Kustomization.Status.LastAppliedRevision
	if rev == "" {
		return "", fmt.Errorf("%s has applied nothing yet: there is no promotion to roll back", env.Name)
	}
	return flux.CommitSHA(rev)
}

// planTag plans the rollback of a tag target's promotions toRevert (newest first).
func (rb *rollback) planTag(ctx context.Context, toRevert []v1alpha1.HistoryEntry) error {
	w, t := rb.w, rb.tag
	env := w.Target
	if pinned := PinnedTag(w.TargetRef); pinned != "" {
		oldest := toRevert[len(toRevert)-1]
		if oldest.PreviousTag == "" {
			return fmt.Errorf("promotion %s records no tag %s ran before it (Promoted-Previous-Tag): pin GitRepository %s/%s back by hand", repo.ShortSHA(oldest.Commit), env.Name, env.Source.Namespace, env.Source.Name)
		}
		p, head, err := preparePin(ctx, w, oldest.PreviousTag)
		if err != nil {
			return err
		}
		t.pin, t.previous, rb.branch = p, oldest.PreviousTag, p.branch
		rb.res.Target.Revision = p.branch + "@sha1:" + head
		rb.res.Pin = p.describe(w, pinned, oldest.PreviousTag)
		rb.res.Files = []v1alpha1.File{{Path: p.file.Path, Diff: plan.FileChange{Path: p.file.Path, Before: p.file.Before, After: p.file.After}.UnifiedDiff()}}
		return nil
	}
	branch, err := w.Repo.BranchContaining(ctx, toRevert[0].Commit)
	if err != nil {
		return err
	}
	if branch == "" {
		return fmt.Errorf("no branch of %s has promotion %s: there is nowhere to commit its revert", w.Repo.URL(), repo.ShortSHA(toRevert[0].Commit))
	}
	rb.branch = branch
	head, err := w.Repo.BranchHead(ctx, branch)
	if err != nil {
		return err
	}
	// The new tag releases the branch's head: refuse what it would release besides.
	since, err := w.Repo.Log(ctx, head, repo.LogOptions{Path: env.Kustomization.Spec.Path, Since: t.applied})
	if err != nil {
		return err
	}
	if len(since) > 0 {
		var list []string
		for _, c := range since {
			list = append(list, repo.ShortSHA(c.SHA)+" "+c.Subject)
		}
		return fmt.Errorf("branch %q has changes to %s since the revision it runs (%s), which the rollback's new tag would release with the revert: %s; nothing was pushed: release or revert them first",
			branch, env.Name, repo.ShortSHA(t.applied), strings.Join(list, "; "))
	}
	s := tagStrategy{}
	cur, tags, err := s.released(ctx, w)
	if err != nil {
		return err
	}
	if t.tag, err = NextTag(cur.Name, BumpPatch); err != nil {
		return err
	}
	if err := checkSelects(w.TargetRef.SemVer, t.tag, tags); err != nil {
		return fmt.Errorf("the rollback's tag %s for %s: %w; nothing was pushed", t.tag, env.Name, err)
	}
	t.released = cur
	rb.res.Tag = t.tag
	rb.res.Target.Revision = cur.Name + "@sha1:" + cur.Commit
	files, err := w.previewRevert(ctx, head, toRevert)
	if err != nil {
		return err
	}
	rb.res.Files = files
	return nil
}

// writeTag pushes the tag rollback and says what the follow waits for: the commit
// the target will run, and for a pinned target the manifest commit before it.
func (rb *rollback) writeTag(ctx context.Context, author repo.Signature, trailers []repo.Trailer, subject string) (string, *via, error) {
	w, t, env, p := rb.w, rb.tag, rb.w.Target, rb.o.Progress
	if t.pin != nil {
		trailers = append(trailers, repo.Trailer{Key: history.TrailerTag, Value: t.previous})
		var spec *repo.CommitSpec
		p.Doing("pinning GitRepository %s/%s back to %s on branch %s", env.Source.Namespace, env.Source.Name, t.previous, rb.branch)
		pushed, err := w.Repo.CommitAndPush(ctx, rb.branch, func(ctx context.Context, _, dir string) (*repo.CommitSpec, error) {
			if _, err := setPin(ctx, w, t.pin, dir, t.previous); err != nil {
				return nil, err
			}
			spec = &repo.CommitSpec{Message: subject, Trailers: trailers, Author: author}
			return spec, nil
		}, repo.PushOptions{MaxAttempts: rb.o.PushAttempts})
		if err != nil || pushed.NoOp {
			return "", nil, rb.pushErr(err, pushed != nil && pushed.NoOp)
		}
		rb.res.Commit = commitOf(pushed, spec)
		rb.res.Pin.Commit = pushed.Commit
		rb.res.Outcome = OutcomeRolledBack
		target := ""
		for _, tg := range mustTags(ctx, w.Repo) {
			if tg.Name == t.previous {
				target = tg.Commit
			}
		}
		if target == "" {
			return "", nil, fmt.Errorf("tag %s vanished from %s", t.previous, w.Repo.URL())
		}
		p.Done("pushed %s to branch %s (%s)", repo.ShortSHA(pushed.Commit), rb.branch, spec.Message)
		return target, &via{env: t.pin.via, commit: pushed.Commit}, nil
	}
	trailers = append(trailers, repo.Trailer{Key: history.TrailerTag, Value: t.tag}, repo.Trailer{Key: history.TrailerPreviousTag, Value: t.released.Name})
	spec := &repo.CommitSpec{Message: subject, Trailers: trailers, Author: author}
	p.Doing("reverting %d promotion(s) on branch %s and tagging the revert %s", len(rb.shas), rb.branch, t.tag)
	pushed, err := w.Repo.Land(ctx, rb.branch, func(ctx context.Context, head string) (*repo.Made, error) {
		commit, files, err := w.Repo.CommitOn(ctx, head, func(ctx context.Context, _, dir string) (*repo.CommitSpec, error) {
			for _, e := range rb.res.Reverted {
				if _, err := revertInto(ctx, w.Repo, e, dir); err != nil {
					return nil, err
				}
			}
			return spec, nil
		})
		if err != nil || commit == "" {
			return nil, err
		}
		msg := repo.FormatMessage(fmt.Sprintf("release %s of %s (was %s): %s", t.tag, env.Name, t.released.Name, subject), "", trailers)
		tag, err := w.Repo.CreateTag(ctx, t.tag, commit, msg, author)
		if err != nil {
			return nil, err
		}
		return &repo.Made{Commit: commit, Files: files, Also: []repo.RefUpdate{tag}}, nil
	}, repo.PushOptions{MaxAttempts: 1})
	if err != nil || pushed.NoOp {
		return "", nil, rb.pushErr(err, pushed != nil && pushed.NoOp)
	}
	rb.res.Commit = commitOf(pushed, spec)
	rb.res.Commit.Revision = t.tag + "@sha1:" + pushed.Commit
	rb.res.Outcome = OutcomeRolledBack
	p.Done("pushed %s to branch %s with tag %s (%s)", repo.ShortSHA(pushed.Commit), rb.branch, t.tag, spec.Message)
	return pushed.Commit, nil, nil
}

// pushErr is what a rollback's push that did not land says: nothing to do when the
// branch had the revert already (noop), unannounced when its outcome is unknown, a
// lost race as such.
func (rb *rollback) pushErr(err error, noop bool) error {
	if err == nil && noop {
		return fmt.Errorf("%w: %s already rolled back on branch %s (another rollback landed first; see \"kubectl promote history\")", ErrNothingToRollBack, strings.Join(shortAll(rb.shas), ", "), rb.branch)
	}
	if c, uerr := unannounced(err, rb.w.Target); c != nil {
		rb.res.Commit = c
		return uerr
	}
	if errors.Is(err, repo.ErrRaceLost) {
		return fmt.Errorf("%w (the tag or branch %q moved); nothing of this rollback was pushed: run it again", err, rb.branch)
	}
	return err
}

func mustTags(ctx context.Context, r *repo.Repo) []repo.Tag {
	tags, _ := r.Tags(ctx)
	return tags
}

package promote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// maxCommitsShown bounds the commits a revision plan lists.
const maxCommitsShown = 50

// revisionStrategy moves the commit the source applied to the target's branch: a
// branch per environment whose Kustomizations read the same path, so that what was
// proven is exactly what the target gets. It writes a merge commit of its own (even
// when a fast-forward would do) carrying the provenance trailers, so one revert
// against its first parent undoes the promotion; with ffOnly it fast-forwards the
// branch instead and records the provenance in a Git note (repo.NotesRef) on the
// commit it moved to, with the branch's previous head, so history and rollback can
// still name the promotion: a rollback then reverts that range as one commit.
type revisionStrategy struct{ ffOnly bool }

func (revisionStrategy) Name() string { return StrategyRevision }

func (s revisionStrategy) Plan(ctx context.Context, w *Workspace) (*Proposal, error) {
	head, err := w.targetHead(ctx)
	if err != nil {
		return nil, err
	}
	return s.propose(ctx, w, head)
}

// propose merges the source's applied commit into head (in the object store only)
// and renders the target before and after.
func (s revisionStrategy) propose(ctx context.Context, w *Workspace, head string) (*Proposal, error) {
	branch := w.TargetRef.Branch
	c := &Proposal{Branch: branch, Head: head, Plan: &plan.Plan{}}
	if s.ffOnly {
		if err := w.canFastForward(ctx, branch, head); err != nil {
			return nil, err
		}
	}
	undo, err := w.rollbacksToUndo(ctx, branch, head)
	if err != nil {
		return nil, err
	}
	m, err := w.Repo.MergeTree(ctx, head, w.SourceCommit, repo.MergeOptions{Unrevert: undo})
	var conflict *repo.MergeConflictError
	if errors.As(err, &conflict) {
		return nil, fmt.Errorf("merging %s (what %s applied) into branch %q: both changed %s since %s; nothing was pushed or annotated: merge them by hand on branch %q, or promote only the images with --strategy images",
			repo.ShortSHA(w.SourceCommit), w.Source.Name, branch, strings.Join(conflict.Files, ", "), repo.ShortSHA(conflict.Base), branch)
	}
	if err != nil {
		return nil, err
	}
	c.Merge = m
	if m.UpToDate {
		return c, nil
	}
	if c.Commits, c.CommitCount, err = w.Repo.Range(ctx, head, w.SourceCommit, maxCommitsShown); err != nil {
		return nil, err
	}
	before, err := w.checkout(ctx, head, "target")
	if err != nil {
		return nil, err
	}
	after, err := w.scratch("merged")
	if err != nil {
		return nil, err
	}
	if err := w.Repo.CheckoutMerge(ctx, m, after); err != nil {
		return nil, err
	}
	if c.Plan, err = w.movedPlan(ctx, before, after, m.Files); err != nil {
		return nil, err
	}
	c.Subject = s.subject(w, c)
	return c, nil
}

// canFastForward refuses, for --ff-only, a branch whose head the source's applied
// commit does not contain (it has commits of its own).
func (w *Workspace) canFastForward(ctx context.Context, branch, head string) error {
	if ok, err := w.Repo.IsAncestor(ctx, head, w.SourceCommit); err != nil || ok {
		return err
	}
	if ok, err := w.Repo.IsAncestor(ctx, w.SourceCommit, head); err != nil || ok {
		return err // already there: nothing to do
	}
	_, ahead, err := w.Repo.Range(ctx, w.SourceCommit, head, 1)
	if err != nil {
		return err
	}
	return fmt.Errorf("--ff-only: branch %q has %d commit(s) that %s (what %s applied) does not, so it cannot be fast-forwarded; nothing was pushed: promote without --ff-only to merge",
		branch, ahead, repo.ShortSHA(w.SourceCommit), w.Source.Name)
}

func (s revisionStrategy) subject(w *Workspace, c *Proposal) string {
	if len(c.Plan.Changes) > 0 {
		return history.Subject(w.Target.Name, w.Source.Name, c.Plan.Changes)
	}
	return fmt.Sprintf("promote(%s): %d commit(s) up to %s from %s", w.Target.Name, c.CommitCount, repo.ShortSHA(w.SourceCommit), w.Source.Name)
}

// movedPlan is plan.Moved of the target from before to after.
func (w *Workspace) movedPlan(ctx context.Context, before, after string, files []string) (*plan.Plan, error) {
	return plan.Moved(ctx, w.Target.Name, render.Input{Kustomization: w.Target.Kustomization, Client: w.Target.Cluster.Client}, before, after, files)
}

func (s revisionStrategy) Deliver(ctx context.Context, g *group, p Provenance) (*Delivery, error) {
	w, c := g.lead().w, g.lead().change
	d := &Delivery{Plan: c.Plan}
	pushed, err := w.Repo.Land(ctx, g.landing.branch, func(ctx context.Context, head string) (*repo.Made, error) {
		cur := c
		if head != c.Head {
			// Another push won: merge again on the new head, and re-check.
			var err error
			if cur, err = s.propose(ctx, w, head); err != nil {
				return nil, err
			}
		}
		d.Plan = cur.Plan
		if cur.Merge.UpToDate {
			return nil, nil
		}
		own := append([]repo.Trailer{{Key: history.TrailerStrategy, Value: StrategyRevision}}, history.ImageTrailers(cur.Plan.Changes)...)
		if s.ffOnly {
			own = append(own, repo.Trailer{Key: history.TrailerBase, Value: head})
			d.Spec = &repo.CommitSpec{Message: cur.Subject, Trailers: p.Trailers(own...), Author: p.Author}
			note, err := w.Repo.AddNote(ctx, w.SourceCommit, history.FormatNote(d.Spec.Message, d.Spec.Trailers), p.Author)
			if err != nil {
				return nil, err
			}
			return &repo.Made{Commit: w.SourceCommit, Files: cur.Merge.Files, Also: []repo.RefUpdate{note}}, nil
		}
		body := fmt.Sprintf("Merge %s, the revision %s applied, into branch %s.", w.SourceRevision, w.Source.Name, c.Branch)
		d.Spec = &repo.CommitSpec{Message: cur.Subject + "\n\n" + body, Trailers: p.Trailers(own...), Author: p.Author}
		sha, err := w.Repo.CommitMerge(ctx, cur.Merge, *d.Spec)
		if err != nil {
			return nil, err
		}
		return &repo.Made{Commit: sha, Files: cur.Merge.Files}, nil
	}, repo.PushOptions{MaxAttempts: w.pushAttempts, Base: g.landing.base})
	if d.Spec != nil {
		// The result's subject is the first line.
		d.Spec.Message, _, _ = strings.Cut(d.Spec.Message, "\n")
	}
	d.Push = pushed
	return d, err
}

func (revisionStrategy) Action(r *v1alpha1.Promotion) string {
	how := "merging"
	if r.FastForward {
		how = "fast-forwarding"
	}
	return fmt.Sprintf("%d commit(s) to %s by %s branch %s", r.CommitCount, r.Target.Name, how, r.Target.Branch)
}

// Record says what was pushed.
func (revisionStrategy) Record(res *v1alpha1.Promotion, _ *Workspace, d *Delivery) string {
	return pushedLine(res, d)
}

// Undo reverts the merge against its first parent, or the range a fast-forward
// moved the branch over.
func (revisionStrategy) Undo(ctx context.Context, w *Workspace, ch Channel, u *undo) (*undone, error) {
	return ch.Revert(ctx, w, u)
}

// rollbacksToUndo lists the rollbacks on the target's branch that are still current
// and reverted revision promotions, newest first: a new merge undoes them in the
// target before merging (the source still has what they reverted, so the merge
// brings it back rather than conflicting with the revert).
func (w *Workspace) rollbacksToUndo(ctx context.Context, branch, head string) ([]string, error) {
	entries, err := history.Read(ctx, w.Repo, head, w.Target.Kustomization.Spec.Path, w.Target.Ref.String(), 0)
	if err != nil {
		return nil, err
	}
	return history.CurrentRollbacks(entries, StrategyRevision), nil
}

// scratch is a new directory name in the scratch space, not yet created.
func (w *Workspace) scratch(name string) (string, error) {
	dir, err := os.MkdirTemp(w.Scratch, name+"-")
	if err != nil {
		return "", err
	}
	return dir, os.Remove(dir)
}

package promote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/release"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// TagOptions are the flags of the tag strategy.
type TagOptions struct {
	// Branch is --branch: where the image edit is committed (the branch the source
	// tracks when empty).
	Branch string
	// Bump is --bump (patch when empty), Tag is --tag (an explicit name).
	Bump, Tag string
	// IncludeUnreleased is --include-unreleased: release the branch's other
	// changes to the target along with the images.
	IncludeUnreleased bool
}

// tagStrategy promotes to a target whose GitRepository follows a semver range
// (spec.ref.semver): it commits the image edit on a branch (the directory per
// environment layout) and creates an annotated tag on that commit which the range
// selects, pushing both in one atomic push. The target then runs the tagged commit,
// so the plan compares what the target runs now (the tag the range selects) with
// what it will run, and refuses other changes that would ride along unreleased.
//
// When both read the same path (the whole tree is the environment), what the
// source applied is what the target gets: its applied commit itself is tagged, and
// no branch moves.
//
// With pinned set (a GitRepository pinned to that one tag), the same tag is made
// and the manifest that declares the GitRepository is edited to pin it (pinned.go).
type tagStrategy struct {
	TagOptions
	samePath bool
	pinned   string
}

func (s tagStrategy) Name() string {
	if s.pinned != "" {
		return StrategyPinnedTag
	}
	return StrategyTag
}

// branch is where the edit is committed: --branch, else the source's branch.
func (s tagStrategy) branch(w *Workspace) (string, error) {
	if s.Branch != "" && !s.samePath {
		return s.Branch, nil
	}
	if w.SourceRef.Branch == "" {
		return "", fmt.Errorf("the source %s tracks %s, not a branch: say with --branch which branch carries the target's overlay", w.Source.Name, w.SourceRef)
	}
	return w.SourceRef.Branch, nil
}

func (s tagStrategy) Plan(ctx context.Context, w *Workspace) (*Proposal, error) {
	branch, err := s.branch(w)
	if err != nil {
		return nil, err
	}
	head, err := w.Repo.BranchHead(ctx, branch)
	if errors.Is(err, repo.ErrNotFound) {
		return nil, fmt.Errorf("branch %q does not exist in %s: pass the branch that carries %s's overlay with --branch", branch, w.Repo.URL(), w.Target.Name)
	}
	if err != nil {
		return nil, err
	}
	return s.propose(ctx, w, branch, head)
}

// released is the tag the target runs now (release.Released).
func (s tagStrategy) released(ctx context.Context, w *Workspace) (repo.Tag, []repo.Tag, error) {
	return release.Released(ctx, w.Repo, w.Target, w.TargetRef.SemVer, s.pinned)
}

// propose plans on head of branch: the image edit, the tag it will be released as,
// and the check that nothing else changes in the target.
func (s tagStrategy) propose(ctx context.Context, w *Workspace, branch, head string) (*Proposal, error) {
	cur, tags, err := s.released(ctx, w)
	if err != nil {
		return nil, err
	}
	c := &Proposal{Branch: branch, Head: head, Released: cur, TargetRevision: cur.Name + "@sha1:" + cur.Commit}
	if s.samePath {
		return s.proposeApplied(ctx, w, c, tags)
	}
	dir, err := w.checkout(ctx, head, "target")
	if err != nil {
		return nil, err
	}
	pl, err := plan.Compute(ctx, w.planInput(dir))
	if err != nil {
		return nil, err
	}
	relDir, err := w.checkout(ctx, cur.Commit, "released")
	if err != nil {
		return nil, err
	}
	rel, err := render.Render(ctx, render.Input{Dir: relDir, Kustomization: w.Target.Kustomization, Client: w.Target.Cluster.Client})
	if err != nil {
		return nil, fmt.Errorf("rendering the target %s at tag %s: %w", w.Target.Name, cur.Name, err)
	}
	ks := "Kustomization/" + w.Target.Kustomization.Namespace + "/" + w.Target.Kustomization.Name
	if render.Diff(rel, pl.Target, "", "") != "" {
		// The branch changes the target's render since the tag: unreleased changes.
		commits, err := w.Repo.Log(ctx, head, repo.LogOptions{Path: w.Target.Kustomization.Spec.Path, Since: cur.Commit})
		if err != nil {
			return nil, err
		}
		if !s.IncludeUnreleased {
			var list []string
			for _, cm := range commits {
				list = append(list, repo.ShortSHA(cm.SHA)+" "+cm.Subject)
			}
			if len(list) == 0 {
				list = append(list, "(outside "+w.Target.Kustomization.Spec.Path+": a base or component it includes)")
			}
			return nil, fmt.Errorf("branch %q has unreleased changes to %s since tag %s, which a new tag would release with the images: %s; nothing was pushed: release them deliberately with --include-unreleased (the tag message records them), or promote once they are released",
				branch, w.Target.Name, cur.Name, strings.Join(list, "; "))
		}
		c.Unreleased, c.Commits, c.CommitCount = commits, commits, len(commits)
	} else if got, want := changeSet(plan.ImageChanges(rel, pl.TargetAfter)), changeSet(pl.Changes); got != want {
		// Verification: with nothing unreleased, the release differs from what the
		// target runs by exactly the planned images.
		return nil, fmt.Errorf("verifying the release: rendering %s at tag %s and at the edited commit differs in images %s, not the planned %s; nothing was pushed", w.Target.Name, cur.Name, got, want)
	}
	pl.Target = rel
	pl.RenderedDiff = render.Diff(rel, pl.TargetAfter, ks+" ("+cur.Name+")", ks+" (after)")
	c.Plan = pl
	if err := s.name(w, c, tags); err != nil || c.empty() {
		return c, err
	}
	if s.pinned != "" {
		if err := s.planPin(ctx, w, c); err != nil {
			return nil, err
		}
	}
	c.Subject = history.Subject(w.Target.Name, w.Source.Name, pl.Changes)
	if len(pl.Changes) == 0 {
		c.Subject = fmt.Sprintf("promote(%s): release %d unreleased commit(s) as %s", w.Target.Name, c.CommitCount, c.Tag)
	}
	return c, nil
}

// proposeApplied plans the same-path release: the source's applied commit tagged,
// the plan the target's render at its tag against that commit.
func (s tagStrategy) proposeApplied(ctx context.Context, w *Workspace, c *Proposal, tags []repo.Tag) (*Proposal, error) {
	c.Plan = &plan.Plan{}
	if ok, err := w.Repo.IsAncestor(ctx, w.SourceCommit, c.Released.Commit); err != nil || ok {
		return c, err // the tag already has what the source applied
	}
	var err error
	if c.Commits, c.CommitCount, err = w.Repo.Range(ctx, c.Released.Commit, w.SourceCommit, maxCommitsShown); err != nil {
		return nil, err
	}
	relDir, err := w.checkout(ctx, c.Released.Commit, "released")
	if err != nil {
		return nil, err
	}
	if c.Plan, err = w.movedPlan(ctx, relDir, w.SourceDir, nil); err != nil {
		return nil, err
	}
	if err := s.name(w, c, tags); err != nil {
		return nil, err
	}
	if s.pinned != "" {
		if err := s.planPin(ctx, w, c); err != nil {
			return nil, err
		}
	}
	c.Subject = fmt.Sprintf("promote(%s): %d commit(s) up to %s from %s", w.Target.Name, c.CommitCount, repo.ShortSHA(w.SourceCommit), w.Source.Name)
	if len(c.Plan.Changes) > 0 {
		c.Subject = history.Subject(w.Target.Name, w.Source.Name, c.Plan.Changes)
	}
	return c, nil
}

// name sets the new tag of a proposal that changes something, checked against the
// range before anything is written.
func (s tagStrategy) name(w *Workspace, c *Proposal, tags []repo.Tag) error {
	if c.empty() {
		return nil
	}
	name := s.Tag
	if name == "" {
		var err error
		if name, err = release.NextTag(c.Released.Name, s.Bump); err != nil {
			if s.pinned != "" {
				return fmt.Errorf("%w: name the tag to pin %s to with --tag", err, w.Target.Name)
			}
			return err
		}
	}
	if s.pinned != "" {
		for _, t := range tags {
			if t.Name == name {
				return fmt.Errorf("tag %s for %s already exists (on %s); tags are never moved: name another with --tag; nothing was pushed", name, w.Target.Name, repo.ShortSHA(t.Commit))
			}
		}
		c.Tag = name
		return nil
	}
	if err := release.CheckSelects(w.TargetRef.SemVer, name, tags); err != nil {
		return fmt.Errorf("tag %s for %s: %w; nothing was pushed", name, w.Target.Name, err)
	}
	c.Tag = name
	return nil
}

// changeSet names image changes as "repository:version" in a stable order.
func changeSet(cs []plan.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Repository+":"+c.To.Version())
	}
	slices.Sort(out)
	return "[" + strings.Join(out, " ") + "]"
}

func (s tagStrategy) Deliver(ctx context.Context, g *group, p Provenance) (*Delivery, error) {
	w, c := g.lead().w, g.lead().change
	d := &Delivery{Plan: c.Plan}
	attempt := 0
	pushed, err := w.Repo.Land(ctx, c.Branch, func(ctx context.Context, head string) (*repo.Made, error) {
		attempt++
		cur := c
		if attempt > 1 || head != c.Head {
			// Another push won (the branch moved, or the tag name was taken):
			// plan again on what is there now, with the next free version.
			var err error
			if cur, err = s.propose(ctx, w, c.Branch, head); err != nil {
				return nil, err
			}
		}
		d.Plan, d.Tag, d.pin = cur.Plan, cur.Tag, cur.Pin
		if cur.empty() {
			return nil, nil
		}
		own := append([]repo.Trailer{{Key: history.TrailerStrategy, Value: s.Name()}, {Key: history.TrailerTag, Value: cur.Tag},
			{Key: history.TrailerPreviousTag, Value: cur.Released.Name}}, history.ImageTrailers(cur.Plan.Changes)...)
		d.Spec = &repo.CommitSpec{Message: cur.Subject, Trailers: p.Trailers(own...), Author: p.Author}
		commit, files := head, []string(nil)
		if s.samePath {
			// The source's applied commit is tagged; the branch stays where it is.
			tag, err := w.Repo.CreateTag(ctx, cur.Tag, w.SourceCommit, release.Message(cur.Tag, w.Target.Name, cur.Released.Name, cur.Unreleased, d.Spec), p.Author)
			if err != nil {
				return nil, err
			}
			return s.withPin(ctx, w, c.Branch, cur, d, p, &repo.Made{Commit: head, Also: []repo.RefUpdate{tag}})
		}
		if len(cur.Plan.Changes) > 0 {
			var err error
			commit, files, err = w.Repo.CommitOn(ctx, head, func(ctx context.Context, _, dir string) (*repo.CommitSpec, error) {
				if _, err := plan.Compute(ctx, w.planInput(dir)); err != nil {
					return nil, err
				}
				return d.Spec, nil
			})
			if err != nil {
				return nil, err
			}
		}
		tag, err := w.Repo.CreateTag(ctx, cur.Tag, commit, release.Message(cur.Tag, w.Target.Name, cur.Released.Name, cur.Unreleased, d.Spec), p.Author)
		if err != nil {
			return nil, err
		}
		d.released = commit
		return s.withPin(ctx, w, c.Branch, cur, d, p, &repo.Made{Commit: commit, Files: files, Also: []repo.RefUpdate{tag}})
	}, repo.PushOptions{MaxAttempts: w.pushAttempts})
	if pushed != nil && s.samePath && !pushed.NoOp {
		// What was released (and what the target will apply) is the tagged commit.
		pushed.Commit, pushed.Parent = w.SourceCommit, ""
	} else if pushed != nil && d.pin != nil && !pushed.NoOp {
		pushed.Commit = d.released
	}
	d.Push = pushed
	if errors.Is(err, repo.ErrRaceLost) {
		err = fmt.Errorf("%w (tag names or branch %q taken by other pushes each time); nothing of this promotion was pushed", err, c.Branch)
	}
	return d, err
}

func (s tagStrategy) Action(r *v1alpha1.Promotion) string {
	if s.pinned != "" && r.Pin != nil {
		return fmt.Sprintf("%d image(s) to %s by pushing tag %s and pinning %s to it on branch %s", len(r.Changes), r.Target.Name, r.Tag, r.Pin.GitRepository, r.Pin.Branch)
	}
	return fmt.Sprintf("%d image(s) to %s by pushing tag %s", len(r.Changes), r.Target.Name, r.Tag)
}

// Record sets the result's tag (and pin) and the commit's revision, the tag's.
func (s tagStrategy) Record(res *v1alpha1.Promotion, w *Workspace, d *Delivery) string {
	res.Tag, res.Commit.Revision = d.Tag, d.Tag+"@sha1:"+d.Push.Commit
	if d.pin == nil {
		return fmt.Sprintf("pushed %s to branch %s with tag %s (%s)", repo.ShortSHA(d.Push.Commit), d.Push.Branch, d.Tag, res.Commit.Subject)
	}
	prev := ""
	if res.Pin != nil {
		prev = res.Pin.Previous
	}
	d.pin.previous, d.pin.value = prev, d.Tag
	res.Pin = d.pin.describe()
	res.Pin.Commit = d.PinCommit
	return fmt.Sprintf("pushed %s with tag %s and %s pinning it (%s) to branch %s", repo.ShortSHA(d.Push.Commit), d.Tag, repo.ShortSHA(d.PinCommit), res.Pin.File, res.Pin.Branch)
}

// withPin adds to made, for a pinned target, the manifest commit that pins the new
// tag (on top of made's commit when the manifest is on the same branch).
func (s tagStrategy) withPin(ctx context.Context, w *Workspace, branch string, cur *Proposal, d *Delivery, p Provenance, made *repo.Made) (*repo.Made, error) {
	if cur.Pin == nil {
		return made, nil
	}
	if d.released == "" {
		d.released = w.SourceCommit
	}
	commit, files, also, pinned, err := w.pinRefs(ctx, cur.Pin, branch, made.Commit, cur.Tag, pinTrailers(p, cur.Tag, cur.Released.Name), p.Author)
	if err != nil {
		return nil, err
	}
	d.PinCommit = pinned
	made.Commit, made.Files, made.Also = commit, append(made.Files, files...), append(made.Also, also...)
	return made, nil
}

// Carries says whether a later commit the target applied (a higher tag on a
// descendant) still runs the images promoted, as for the images strategy.
func (tagStrategy) Carries(ctx context.Context, w *Workspace, d *Delivery, sha string) (bool, error) {
	return imagesStrategy{}.Carries(ctx, w, d, sha)
}

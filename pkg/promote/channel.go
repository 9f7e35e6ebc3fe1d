package promote

import (
	"cmp"
	"context"
	"fmt"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// Channel is how a delivery lands: a push to the tracked branch (pushChannel), or a
// pull request from a branch of its own (pullRequestChannel, --review). The
// pipeline asks it where a group's commit goes, what Flux is to apply once it has
// landed, and how a revert lands; it never asks which channel it has.
type Channel interface {
	// prepare checks, before anything is planned, that the channel can serve t.
	prepare(t *target) error
	// Landing is where a group's commit goes.
	Landing(ctx context.Context, g *group) (landing, error)
	// Landed records the group's delivery, and returns the commit Flux is to apply:
	// the commit pushed; a pull request's merge commit once merged (with wait); ""
	// when there is nothing to announce (nothing pushed, or a pull request open).
	Landed(ctx context.Context, p *pipeline, g *group, wait bool) (string, error)
	// Revert lands the revert u describes: pushed (undone.follow is the commit to
	// follow) or proposed.
	Revert(ctx context.Context, w *Workspace, u *undo) (*undone, error)
}

// landing is where a delivery goes: branch, made from base when base is set (a
// review branch from the tracked branch); and, for a pull request, the one open on
// branch before the push and the one proposed after.
type landing struct {
	branch, base string
	open, pr     *review.PullRequest
	title        string
}

// undo is a revert to land, automatic (--rollback-on-failure) or asked for
// (rollback): the promotions (newest first), the branch they are on, and the
// trailers' values.
type undo struct {
	entries []v1alpha1.HistoryEntry
	branch  string
	// from is where the promotions were read: the branch, or the commit a tag
	// target applied.
	from   string
	to     []string
	names  string // the environments, for the subject
	why    string // why an automatic undo reverts, for the subject
	by     string
	reason string
	// gates, when set, is the Promote-Gates trailer (a rollback forced past a window).
	gates    string
	author   repo.Signature
	attempts int
	progress Progress
	// files are the planned revert's file diffs (a pull request shows them); wait
	// says to wait for a pull request's merge and follow it (rollback --wait).
	files []v1alpha1.File
	wait  bool
	// release is the tag strategy's own plan of the undo (tagundo.go).
	release *releaseUndo
	// revision is rollback's --to-revision; force its --force, which also moves an
	// OCI target's tag back when someone moved it since the last promotion.
	revision string
	force    bool
}

// subject of the revert commit (history.RevertSubject).
func (u *undo) subject() string { return history.RevertSubject(u.names, u.why, u.entries) }

// trailers of the revert commit (history.RevertTrailers).
func (u *undo) trailers() []repo.Trailer {
	return history.RevertTrailers(u.entries, u.to, u.by, u.reason, u.gates)
}

// undone is what a revert landed: the commit (and pull request), and the commit to
// follow ("" for a pull request left open); via, for a pinned tag, the manifest
// commit that pins the previous tag; noop when the branch had the revert already.
type undone struct {
	commit *v1alpha1.Commit
	pr     *v1alpha1.PullRequest
	follow string
	via    *via
	noop   bool
	// artifact is what an OCI undo tagged (the tag moved back).
	artifact *v1alpha1.PromotedArtifact
}

// newChannel is the channel review asks for (--review), a push without it.
func newChannel(review *ReviewOptions) Channel {
	if review != nil {
		return pullRequestChannel{o: review}
	}
	return pushChannel{}
}

// newRollbackChannel is newChannel for "kubectl promote rollback", whose pull
// request host is reached before anything is planned.
func newRollbackChannel(w *Workspace, o *ReviewOptions, pr Progress) (Channel, error) {
	if o == nil {
		return pushChannel{}, nil
	}
	r, err := newReviewer(w, o, review.KindRollback, pr)
	return pullRequestChannel{o: o, reverter: r}, err
}

// pushChannel lands a delivery on the branch the target tracks.
type pushChannel struct{}

func (pushChannel) prepare(*target) error { return nil }

func (pushChannel) Landing(_ context.Context, g *group) (landing, error) {
	return landing{branch: g.branch}, nil
}

func (pushChannel) Landed(_ context.Context, p *pipeline, g *group, _ bool) (string, error) {
	if g.d.Push.NoOp {
		p.nothingPushed(g)
		return "", nil
	}
	p.record(g)
	return g.d.Push.Commit, nil
}

func (pushChannel) Revert(ctx context.Context, w *Workspace, u *undo) (*undone, error) {
	u.progress.Doing("reverting %d promotion(s) on branch %s", len(u.entries), u.branch)
	pushed, spec, err := history.Revert(ctx, w.Repo, u.branch, "", u.entries, u.subject(), u.trailers(), u.author, u.attempts)
	if err != nil {
		return nil, err
	}
	if pushed.NoOp {
		return &undone{noop: true}, nil
	}
	u.progress.Done("pushed %s to branch %s (%s)", repo.ShortSHA(pushed.Commit), u.branch, spec.Message)
	return &undone{commit: commitOf(pushed, spec), follow: pushed.Commit}, nil
}

// pullRequestChannel lands a delivery on a review branch, promote/TARGET/SHA made
// from the tracked branch, and proposes it in a pull request; the next step waits
// for the merge (see review.go). reverter, when set, is the host reached for a
// rollback's pull request.
type pullRequestChannel struct {
	o        *ReviewOptions
	reverter *review.Session
}

func (c pullRequestChannel) prepare(t *target) error {
	r, err := newReviewer(t.w, c.o, review.KindPromote, t.progress)
	t.review = r
	return err
}

func (pullRequestChannel) Landing(ctx context.Context, g *group) (landing, error) {
	lead := g.lead()
	r := lead.review
	branch, open, err := r.Branch(ctx, lead.w.Repo, lead.w.Target.Ref.String(), r.Prefix, r.Prefix+repo.ShortSHA(lead.w.SourceCommit))
	return landing{branch: branch, base: g.branch, open: open}, err
}

func (c pullRequestChannel) Landed(ctx context.Context, p *pipeline, g *group, wait bool) (string, error) {
	lead, d, l := g.lead(), g.d, &g.landing
	if d.Push.NoOp {
		p.say(g.wave, lead.progress.Done, "branch %s already has this plan", l.branch)
	} else {
		for _, t := range g.targets {
			t.res.Commit = commitOf(d.Push, d.Spec)
		}
		p.say(g.wave, lead.progress.Done, "pushed %s to branch %s (%s)", repo.ShortSHA(d.Push.Commit), l.branch, d.Spec.Message)
	}
	if err := c.propose(ctx, g); err != nil {
		return "", err
	}
	for _, t := range g.targets {
		t.res.PullRequest = lead.review.Doc(l.pr)
		t.res.Outcome = OutcomeReviewOpen
	}
	if !wait {
		lead.progress.Done("nothing was announced to Flux: merging the pull request promotes it (--wait follows it)")
		return "", nil
	}
	return c.merged(ctx, g)
}

// propose opens the group's pull request, or brings the open one up to date. The
// description says what merging does to the tracked branch: the plan made on it,
// not the step from the review branch's previous commit (a newer plan pushed on top
// of an open pull request), and trailers to match (a squash keeps those).
func (pullRequestChannel) propose(ctx context.Context, g *group) error {
	lead, d, l := g.lead(), g.d, &g.landing
	res, changes := groupResult(g)
	var trailers []repo.Trailer
	if d.Spec != nil {
		trailers = review.AgainstBase(d.Spec.Trailers, history.ImageTrailers(changes))
	} else if tip, err := lead.w.Repo.Log(ctx, l.branch, repo.LogOptions{Limit: 1}); err == nil && len(tip) == 1 {
		// Nothing pushed: the branch already had the plan (its pull request was
		// closed, and this run opens a new one); its commit has the provenance.
		trailers = review.AgainstBase(tip[0].Trailers, history.ImageTrailers(changes))
	}
	title, body := groupSubject(g, changes), review.PromotionBody(res, trailers)
	if l.open != nil && d.Push.NoOp {
		title, body = l.open.Title, l.open.Body // the same plan: nothing to say anew
	}
	pr, err := lead.review.Propose(ctx, l.branch, l.open, title, body)
	if err != nil {
		return fmt.Errorf("%s is on branch %s, but the pull request was not opened: %w; run this promotion again", cmp.Or(repo.ShortSHA(d.Push.Commit), "the change"), l.branch, err)
	}
	l.pr, l.title = pr, pr.Title
	return nil
}

// merged waits for the group's pull request, and returns the merge commit to
// follow. A pull request closed without merging is a *review.ClosedError.
func (pullRequestChannel) merged(ctx context.Context, g *group) (string, error) {
	lead, l := g.lead(), &g.landing
	pr, err := lead.review.AwaitMerge(ctx, lead.w.Repo, l.pr)
	if pr != nil {
		l.pr = pr
		for _, t := range g.targets {
			t.res.PullRequest = lead.review.Doc(pr)
		}
	}
	if err != nil {
		return "", err
	}
	for _, t := range g.targets {
		t.res.Outcome = OutcomePromoted
	}
	return pr.MergeCommit, nil
}

// Revert, in review mode, proposes the revert in a pull request of its own
// (rollback/TARGET/SHA), which waits for review like the promotion did; nothing is
// announced. With u.wait it waits for the merge, and the merge commit is followed.
func (c pullRequestChannel) Revert(ctx context.Context, w *Workspace, u *undo) (*undone, error) {
	r := c.reverter
	if r == nil {
		var err error
		if r, err = newReviewer(w, c.o, review.KindRollback, u.progress); err != nil {
			return nil, err
		}
	}
	pushed, spec, pr, err := proposeRevert(ctx, r, w, u)
	out := &undone{}
	if pushed != nil && !pushed.NoOp {
		out.commit = commitOf(pushed, spec)
	}
	if err != nil {
		return out, err
	}
	out.pr = r.Doc(pr)
	if !u.wait {
		return out, nil
	}
	if pr, err = r.AwaitMerge(ctx, w.Repo, pr); pr != nil {
		out.pr = r.Doc(pr)
	}
	if err != nil {
		return out, err
	}
	out.follow = pr.MergeCommit
	return out, nil
}

// groupResult is the result a group's pull request describes: the lead target's,
// named for every target, with every target's changes and files.
func groupResult(g *group) (*v1alpha1.Promotion, []plan.Change) {
	lead := g.lead()
	var changes []plan.Change
	seen := map[string]bool{}
	for _, t := range g.targets {
		fillPlan(t.res, t.change.Plan)
		for _, ch := range t.change.Plan.Changes {
			if id := ch.Repository + "\x00" + ch.To.String(); !seen[id] {
				seen[id] = true
				changes = append(changes, ch)
			}
		}
	}
	if len(g.targets) == 1 {
		return lead.res, changes
	}
	res := lead.res.DeepCopy()
	res.Target.Name = targetNames(g.targets)
	res.Changes, res.Files = nil, nil
	fillPlan(res, &plan.Plan{Changes: changes})
	files := map[string]bool{}
	for _, t := range g.targets {
		for _, f := range t.res.Files {
			if !files[f.Path] {
				files[f.Path] = true
				res.Files = append(res.Files, f)
			}
		}
	}
	return res, changes
}

// groupSubject is the pull request's title: the plan's subject for one target.
func groupSubject(g *group, changes []plan.Change) string {
	if len(g.targets) == 1 {
		return g.lead().change.Subject
	}
	return history.Subject(targetNames(g.targets), g.lead().w.Source.Name, changes)
}

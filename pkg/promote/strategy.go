package promote

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/release"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Strategy is how a promotion reaches what the target's source reads, and carries
// everything about itself: what the change is (Plan), how it lands for a group of
// targets (Deliver, through the channel's landing), how it is undone (Undo), what it
// records and says once pushed (Record), and, in refusals.go's table, the modes it
// refuses. Everything around it (reading the environments, the gates, the
// confirmation, announcing the commit to Flux and following it) is the pipeline's.
type Strategy interface {
	// Name is the strategy as the plan's "strategy:" line and the JSON field show it.
	Name() string
	// Plan works out the change on the fetched repository, writing nothing. A plan
	// with no image changes and no commits is "nothing to promote".
	Plan(ctx context.Context, w *Workspace) (*Proposal, error)
	// Deliver lands the planned change of the group's targets on g.landing with the
	// provenance given, never forcing: when another push wins the race it re-plans
	// on the new head and tries again. Push.NoOp says the branch already had it.
	Deliver(ctx context.Context, g *group, p Provenance) (*Delivery, error)
	// Record fills a target's result with what the delivery pushed (its commit's
	// revision, tag, pin) and returns the progress line that says it.
	Record(res *v1alpha1.Promotion, w *Workspace, d *Delivery) string
	// Undo reverts a delivered promotion through the channel it came by.
	Undo(ctx context.Context, w *Workspace, ch Channel, u *undo) (*undone, error)
	// Action says, from a planned result, what the promotion will do: "2 image(s)
	// to production by pushing to branch main".
	Action(res *v1alpha1.Promotion) string
}

// strategies are the strategies by name, for what is told from a result alone.
var strategies = map[string]Strategy{
	StrategyImages: imagesStrategy{}, StrategyRevision: revisionStrategy{},
	StrategyTag: tagStrategy{}, StrategyPinnedTag: tagStrategy{pinned: "tag"},
	oci.StrategyRetag: ociStrategy{name: oci.StrategyRetag}, oci.StrategyCopy: ociStrategy{name: oci.StrategyCopy},
	oci.StrategySemver: ociStrategy{name: oci.StrategySemver}, oci.StrategyPin: newOCIPin(),
}

// Action says what a planned promotion will do, in its strategy's words (the
// question before a push).
func Action(res *v1alpha1.Promotion) string {
	s, ok := strategies[res.Strategy]
	if !ok {
		s = imagesStrategy{}
	}
	return s.Action(res)
}

// Workspace is what a strategy works on: both environments as read, the repository
// fetched once, and the source's applied revision checked out.
type Workspace struct {
	Source, Target *flux.Environment
	// SourceRef and TargetRef are what each GitRepository tracks.
	SourceRef, TargetRef flux.GitRef
	Repo                 *repo.Repo
	// SourceRevision is the source's lastAppliedRevision, SourceCommit its SHA, and
	// SourceDir a checkout of it.
	SourceRevision, SourceCommit, SourceDir string
	Filter                                  plan.Filter
	// Scratch is a temporary directory the workspace removes when it closes.
	Scratch string

	pushAttempts int
	// sourceRender is the source rendered once for every target of a fleet.
	sourceRender *render.Output
	// tree, when set, is the checkout of the target's branch head that the targets
	// reading that branch share.
	tree *plan.SharedTree
	// source is the kind of source the target reads (source.go).
	source Source
	// registry is how OCI registries are reached (Options.Registry); git how a Git
	// repository other than the source's is fetched (the manifest of an OCI
	// target's digest pin, ocipin.go).
	registry oci.Options
	git      openOptions
}

// Proposal is a strategy's plan: the change it will deliver.
type Proposal struct {
	// Branch is the branch the change is committed to, Head the commit planned on.
	Branch, Head string
	// Plan is the image changes, the files and the rendered diff.
	Plan *plan.Plan
	// Subject is the commit subject.
	Subject string
	// Commits are the commits a revision promotion moves (newest first, at most
	// maxCommitsShown), CommitCount all of them; Merge the merge planned.
	Commits     []repo.Commit
	CommitCount int
	Merge       *repo.Merge
	// Tag is the tag a tag promotion creates; Released the tag the target's range
	// selects now and Unreleased the branch's other commits to the target since it
	// (with --include-unreleased). TargetRevision, when set, is the target's current
	// revision ("v1.2.3@sha1:..."); else Branch@sha1:Head.
	Tag            string
	Released       repo.Tag
	Unreleased     []repo.Commit
	TargetRevision string
	// Pin is, for a target pinned to a tag, the manifest edit that pins the new one.
	Pin *pin
	// Artifact is, for an OCI target, the artifact to tag (nil when it has it already).
	Artifact *v1alpha1.PromotedArtifact
}

// empty says the proposal changes nothing: no image, no commit and no artifact to
// promote.
func (c *Proposal) empty() bool {
	return len(c.Plan.Changes) == 0 && c.CommitCount == 0 && c.Artifact == nil
}

// Provenance is what every promotion commit records about itself (history.Provenance).
type Provenance = history.Provenance

// Delivery is what a strategy wrote.
type Delivery struct {
	Push *repo.PushResult
	Spec *repo.CommitSpec
	// Plan is the plan as finally committed (re-made on a newer head after a race);
	// Plans, for a group, each overlay's (by cleaned path).
	Plan  *plan.Plan
	Plans map[string]*plan.Plan
	// Tag is the tag pushed with the commit (the tag strategy).
	Tag string
	// PinCommit is the manifest commit of a pinned-tag promotion; pin its plan and
	// released the commit tagged.
	PinCommit string
	pin       *pin
	released  string
	// applies, when set, is what the target applies instead of the commit landed:
	// the digest a pin commit pins (ocipin.go), followed after the Kustomization
	// applying the manifest has applied the commit.
	applies string
}

// Strategy names, for --strategy and the JSON "strategy" field.
const (
	StrategyAuto     = "auto"
	StrategyImages   = "images"
	StrategyRevision = "revision"
	StrategyTag      = "tag"
)

// chooseStrategy picks the strategy the two environments' Git refs and paths call
// for, or the one asked for with --strategy, and refuses layouts and combinations it
// cannot promote:
//
//	same branch, different paths     images
//	other branch, different paths    images (revision with --strategy revision)
//	other branch, same path          revision, a merge (--ff-only: a fast-forward;
//	                                 images with --strategy images)
//	semver range, different paths    tag: the image edit committed on the source's
//	                                 branch (or --branch) and tagged for the range
//	semver range, same path          tag: the source's applied commit itself tagged
func chooseStrategy(w *Workspace, want string, ffOnly bool, tag TagOptions) (Strategy, error) {
	src, dst := w.Source, w.Target
	if !repo.SameURL(src.Source.Spec.URL, dst.Source.Spec.URL) {
		return nil, fmt.Errorf("the source reads %s and the target %s: promoting between repositories is not supported",
			repo.RedactURL(src.Source.Spec.URL), repo.RedactURL(dst.Source.Spec.URL))
	}
	if src.Ref == dst.Ref {
		return nil, fmt.Errorf("--from and --to name the same Kustomization %s", src.Ref)
	}
	if w.TargetRef.ReachedByTags() {
		return chooseTag(w, want, ffOnly, tag)
	}
	if tag != (TagOptions{}) {
		return nil, fmt.Errorf("--bump, --tag, --branch and --include-unreleased are for a target whose GitRepository follows a semver range or pins a tag; %s tracks %s", dst.Name, w.TargetRef)
	}
	if w.TargetRef.Branch == "" {
		return nil, w.TargetRef.Unsupported(dst)
	}
	branch := w.TargetRef.Branch
	sameBranch := w.SourceRef.Branch == branch
	same := samePath(src.Kustomization.Spec.Path, dst.Kustomization.Spec.Path)
	if sameBranch && same {
		return nil, fmt.Errorf("the source and the target both read path %q of branch %q: they already run the same files; promote between environments that read different overlays",
			dst.Kustomization.Spec.Path, branch)
	}
	if want == "" {
		want = StrategyAuto
	}
	if want == StrategyAuto {
		want = StrategyImages
		if same {
			want = StrategyRevision
		}
	}
	switch want {
	case StrategyImages:
		return imagesStrategy{}, nil
	case StrategyRevision:
		if sameBranch {
			return nil, fmt.Errorf("--strategy %s: the source and the target both track branch %q, so there is no commit to move; use --strategy %s", StrategyRevision, branch, StrategyImages)
		}
		return revisionStrategy{ffOnly: ffOnly}, nil
	}
	return nil, fmt.Errorf("--strategy %q: use %s, %s, %s or %s", want, StrategyAuto, StrategyImages, StrategyRevision, StrategyTag)
}

// chooseTag is the strategy of a target that follows a semver range: tag.
func chooseTag(w *Workspace, want string, ffOnly bool, tag TagOptions) (Strategy, error) {
	dst := w.Target
	if want != "" && want != StrategyAuto && want != StrategyTag {
		return nil, fmt.Errorf("--strategy %s: GitRepository %s/%s of %s follows %s, which only a new tag reaches: use --strategy %s (or auto)",
			want, dst.Source.Namespace, dst.Source.Name, dst.Name, w.TargetRef, StrategyTag)
	}
	same := samePath(w.Source.Kustomization.Spec.Path, dst.Kustomization.Spec.Path)
	if same && (tag.Branch != "" || tag.IncludeUnreleased) {
		return nil, fmt.Errorf("the source and the target both read path %q: the promotion tags what %s applied itself, so --branch and --include-unreleased do not apply", dst.Kustomization.Spec.Path, w.Source.Name)
	}
	if err := release.CheckBump(tag.Bump); err != nil {
		return nil, err
	}
	if tag.Tag != "" && tag.Bump != "" {
		return nil, fmt.Errorf("--tag %s names the tag; it cannot be combined with --bump", tag.Tag)
	}
	return tagStrategy{TagOptions: tag, samePath: same, pinned: w.TargetRef.PinnedTag()}, nil
}

// targetHead is the head of the target's branch, or an error that says how to
// create a branch that does not exist yet.
func (w *Workspace) targetHead(ctx context.Context) (string, error) {
	branch := w.TargetRef.Branch
	head, err := w.Repo.BranchHead(ctx, branch)
	if errors.Is(err, repo.ErrNotFound) {
		return "", fmt.Errorf("branch %q, which GitRepository %s/%s of %s tracks, does not exist in %s: create it from what %s runs with \"git push origin %s:refs/heads/%s\", then promote again",
			branch, w.Target.Source.Namespace, w.Target.Source.Name, w.Target.Name, w.Repo.URL(), w.Source.Name, w.SourceCommit, branch)
	}
	return head, err
}

func samePath(a, b string) bool { return cleanPath(a) == cleanPath(b) }

// imagesStrategy edits the images of the target's overlay on the branch it tracks:
// the seed's layout, a directory per environment, on one branch or a branch each
// (the source rendered at its applied commit, the target at its branch's head).
type imagesStrategy struct{}

func (imagesStrategy) Name() string { return StrategyImages }

func (imagesStrategy) sharesTree() {}

func (imagesStrategy) Plan(ctx context.Context, w *Workspace) (*Proposal, error) {
	branch := w.TargetRef.Branch
	head, err := w.targetHead(ctx)
	if err != nil {
		return nil, err
	}
	var pl *plan.Plan
	if t := w.tree; t != nil && t.Head == head {
		pl, err = t.Compute(ctx, w.planInput(t.Dir))
	} else {
		var dir string
		if dir, err = w.checkout(ctx, head, "target"); err != nil {
			return nil, err
		}
		pl, err = plan.Compute(ctx, w.planInput(dir))
	}
	if err != nil {
		return nil, err
	}
	return &Proposal{Branch: branch, Head: head, Plan: pl, Subject: history.Subject(w.Target.Name, w.Source.Name, pl.Changes)}, nil
}

// Deliver commits, on the landing branch, the edit of every overlay the group's
// targets read, with a Promoted-To trailer per target.
func (imagesStrategy) Deliver(ctx context.Context, g *group, p Provenance) (*Delivery, error) {
	lead := g.lead()
	d := &Delivery{}
	pushed, err := lead.w.Repo.CommitAndPush(ctx, g.landing.branch, func(ctx context.Context, head, dir string) (*repo.CommitSpec, error) {
		changes, err := g.replan(ctx, head, dir, d)
		if err != nil || len(changes) == 0 {
			return nil, err
		}
		d.Spec = &repo.CommitSpec{Message: history.Subject(targetNames(g.targets), lead.w.Source.Name, changes), Trailers: p.Trailers(history.ImageTrailers(changes)...), Author: p.Author}
		return d.Spec, nil
	}, repo.PushOptions{MaxAttempts: lead.w.pushAttempts, Base: g.landing.base})
	d.Push = pushed
	d.Plan = d.planFor(lead.w)
	return d, err
}

func (imagesStrategy) Action(r *v1alpha1.Promotion) string {
	return fmt.Sprintf("%d image(s) to %s by pushing to branch %s", len(r.Changes), r.Target.Name, r.Target.Branch)
}

// Record says what was pushed.
func (imagesStrategy) Record(res *v1alpha1.Promotion, _ *Workspace, d *Delivery) string {
	return pushedLine(res, d)
}

// Undo reverts the promotion commit.
func (imagesStrategy) Undo(ctx context.Context, w *Workspace, ch Channel, u *undo) (*undone, error) {
	return ch.Revert(ctx, w, u)
}

// pushedLine is the progress line of a commit pushed to a branch.
func pushedLine(res *v1alpha1.Promotion, d *Delivery) string {
	return fmt.Sprintf("pushed %s to branch %s (%s)", repo.ShortSHA(d.Push.Commit), d.Push.Branch, res.Commit.Subject)
}

// Carries says whether a later commit of the target's branch still runs the images
// promoted: Flux may apply a descendant of our commit (another promotion landed on
// top), which counts only if it did not change them again.
func (imagesStrategy) Carries(ctx context.Context, w *Workspace, d *Delivery, sha string) (bool, error) {
	dir, err := w.checkout(ctx, sha, "carries-"+repo.ShortSHA(sha))
	if err != nil {
		return false, err
	}
	out, err := render.Render(ctx, render.Input{Dir: dir, Kustomization: w.Target.Kustomization, Client: w.Target.Cluster.Client})
	if err != nil {
		return false, err
	}
	return plan.Runs(out, d.planFor(w).Changes), nil
}

// wording is a strategy whose deliveries are no commits to a branch (an OCI tag
// written to a registry) and say so in their own progress lines: before a
// delivery, before an undo, and when the target had the change already. The others
// use the Git lines (deliveryLine, undoLine, unchangedLine).
type wording interface {
	delivering(branch string) string
	undoing(commit, branch string) string
	unchanged(branch string) string
}

// deliveryLine is the progress line before a delivery.
func deliveryLine(s Strategy, branch string) string {
	if w, ok := s.(wording); ok {
		return w.delivering(branch)
	}
	return "committing to branch " + branch
}

// undoLine is the progress line before an undo.
func undoLine(s Strategy, commit, branch string) string {
	if w, ok := s.(wording); ok {
		return w.undoing(commit, branch)
	}
	return fmt.Sprintf("rolling back %s on branch %s", repo.ShortSHA(commit), branch)
}

// unchangedLine says the target already had what a delivery would have landed.
func unchangedLine(s Strategy, branch string) string {
	if w, ok := s.(wording); ok {
		return w.unchanged(branch)
	}
	return fmt.Sprintf("nothing to promote: branch %s already has these versions", branch)
}

// carrier is a strategy that can tell whether a later commit still carries its
// change; without it, any descendant of the promotion commit does.
type carrier interface {
	Carries(ctx context.Context, w *Workspace, d *Delivery, sha string) (bool, error)
}

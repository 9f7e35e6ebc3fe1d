// Package promote ties kubectl-promote together: it reads the source and target
// environments, plans the change with the Strategy their Git refs call for, checks
// the gates, delivers the change with provenance, asks Flux to reconcile now and
// follows the target. It returns one Result value that the command prints as text or
// as a machine-readable document.
//
// A promotion runs in phases, each a method of promotion: load, gate, fetch, plan,
// decide, write, and announce-and-follow (follow.go, shared with rollback). Only plan
// and write differ between Git layouts; they are the Strategy's.
package promote

import (
	"context"
	"errors"
	"fmt"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/gates"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// Progress receives human progress lines; the command prints them on stderr.
type Progress interface {
	reconcile.Progress
	Failed(format string, args ...any)
}

// Options is one promotion, as the command's flags describe it.
type Options struct {
	From, To flux.RefSpec
	Filter   plan.Filter
	// Strategy is --strategy: "auto" (or empty) picks the one the Git refs call for.
	Strategy string
	// FFOnly is --ff-only: the revision strategy fast-forwards instead of merging.
	FFOnly bool
	// Tag is the tag strategy's flags (a target following a semver range).
	Tag TagOptions
	// RepoDir is a local checkout to use instead of a temporary clone.
	RepoDir string
	Auth    repo.Auth
	// Author of the commit; nil means the user's git config.
	Author *repo.Signature
	// SignKey, when set, signs every commit and tag written (--sign-key).
	SignKey *sign.Key
	MinSoak time.Duration
	Force   bool
	DryRun  bool
	Wait    bool
	// Timeout bounds everything before the confirmation, and again everything after
	// it (write, announce, wait); 0 means DefaultTimeout.
	Timeout time.Duration
	// RollbackOnFailure reverts the promotion when the target fails health.
	RollbackOnFailure bool
	// Confirm is asked before anything is written, with the plan and gates in the
	// result; nil means yes.
	Confirm func(*v1alpha1.Promotion) (bool, error)
	// Preview is called once the plan and gates are known, before Confirm.
	Preview  func(*v1alpha1.Promotion)
	Progress Progress
	// PushAttempts bounds the race retries; 0 means DefaultPushAttempts.
	PushAttempts int
	// Review, when set (--review), delivers through a pull request (review.go).
	Review *ReviewOptions
}

// Run performs one promotion. It always returns a Promotion describing how far it got,
// with an error when it did not end promoted, nothing-to-promote, resumed or dry-run.
func Run(ctx context.Context, clients *flux.Clients, o Options) (*v1alpha1.Promotion, error) {
	if o.PushAttempts <= 0 {
		o.PushAttempts = DefaultPushAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	p := &promotion{o: o, clients: clients, res: v1alpha1.NewPromotion(o.To.Raw)}
	p.res.Outcome = OutcomeFailed
	defer p.close()
	err := p.run(ctx)
	if err != nil {
		p.res.Error = err.Error()
		p.res.Outcome = outcomeOf(err)
	}
	return p.res, err
}

// promotion is one Run: the options, what each phase found, and the result.
type promotion struct {
	o        Options
	clients  *flux.Clients
	res      *v1alpha1.Promotion
	w        *Workspace
	strategy Strategy
	gates    v1alpha1.Gates
	change   *Proposal
	review   *reviewer // with --review
}

func (p *promotion) run(ctx context.Context) error {
	before, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	if err := p.load(before); err != nil {
		return err
	}
	p.gate(before)
	if err := p.fetch(before); err != nil {
		return err
	}
	if err := p.plan(before); err != nil {
		return err
	}
	prov, done, err := p.decide(before)
	if done || err != nil {
		return err
	}
	// The timeout starts again after the confirmation: a person may take their time.
	after, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	d, err := p.write(after, prov)
	if err != nil || d.finished() {
		return err
	}
	return p.follow(after, ctx, d, prov)
}

// load reads both environments in parallel and chooses the strategy.
func (p *promotion) load(ctx context.Context) error {
	var src, dst *flux.Environment
	var srcErr, dstErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); src, srcErr = flux.Load(ctx, p.clients, p.o.From) }()
	go func() { defer wg.Done(); dst, dstErr = flux.Load(ctx, p.clients, p.o.To) }()
	wg.Wait()
	if srcErr != nil {
		return fmt.Errorf("source %s: %w", p.o.From.Raw, srcErr)
	}
	if dstErr != nil {
		return fmt.Errorf("target %s: %w", p.o.To.Raw, dstErr)
	}
	return p.use(ctx, src, dst)
}

// use takes the two environments as read and chooses the strategy.
func (p *promotion) use(ctx context.Context, src, dst *flux.Environment) error {
	p.w = &Workspace{Source: src, Target: dst, SourceRef: flux.RefOf(src.Source), TargetRef: flux.RefOf(dst.Source),
		Filter: p.o.Filter, SourceRevision: src.Kustomization.Status.LastAppliedRevision, pushAttempts: p.o.PushAttempts}
	p.res.Source = describeEnv(src, p.w.SourceRef, p.w.SourceRevision)
	p.res.Target = describeEnv(dst, p.w.TargetRef, "")
	s, err := chooseStrategy(p.w, p.o.Strategy, p.o.FFOnly, p.o.Tag)
	if err != nil {
		return err
	}
	if p.o.RollbackOnFailure && s.Name() == StrategyPinnedTag {
		return fmt.Errorf("--rollback-on-failure does not apply to %s, whose GitRepository pins a tag: a failed promotion is undone by pinning the previous tag back with \"kubectl promote rollback\"", dst.Name)
	}
	p.strategy = s
	p.res.Strategy = s.Name()
	p.res.FastForward = p.o.FFOnly
	if err := p.reviewMode(); err != nil {
		return err
	}
	pr := p.o.Progress
	if p.res.Signing, err = checkSigning(ctx, dst, p.o.SignKey, pr); err != nil {
		return err
	}
	if p.o.FFOnly && p.res.Signing != nil && verifies(p.res.Signing.Verify, false) {
		pr.Failed("--ff-only makes no commit to sign: GitRepository %s/%s verifies HEAD, so the source's commit must itself be signed by a key it trusts", dst.Source.Namespace, dst.Source.Name)
	}
	pr.Done("source %s: Kustomization %s/%s applied %s", src.Name, src.Ref.Namespace, src.Ref.Name, orNone(p.w.SourceRevision))
	pr.Done("target %s: Kustomization %s/%s tracks %s %s path %s", dst.Name, dst.Ref.Namespace, dst.Ref.Name,
		repo.RedactURL(dst.Source.Spec.URL), p.w.TargetRef, dst.Kustomization.Spec.Path)
	return nil
}

// gate reads both environments' gates in parallel. They are read before the plan so
// that a blocked promotion still shows its plan.
func (p *promotion) gate(ctx context.Context) {
	var srcGates, dstGates v1alpha1.Gates
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		srcGates = gates.Source(ctx, p.w.Source, gates.SourceOptions{MinSoak: p.o.MinSoak})
	}()
	go func() { defer wg.Done(); dstGates = gates.Target(ctx, p.w.Target) }()
	wg.Wait()
	p.gates = append(append(v1alpha1.Gates{}, srcGates...), dstGates...)
	p.res.Gates = p.gates
}

// fetch opens the repository and checks out the source's applied revision.
func (p *promotion) fetch(ctx context.Context) error {
	w := p.w
	if w.SourceRevision == "" {
		// Nothing to render or promote; the gates say why.
		p.preview()
		return &BlockedError{Failed: p.gates.Failed()}
	}
	sha, err := flux.CommitSHA(w.SourceRevision)
	if err != nil {
		return fmt.Errorf("source %s: lastAppliedRevision %q: %w", w.Source.Name, w.SourceRevision, err)
	}
	w.SourceCommit = sha
	return w.open(ctx, p.o.Progress, p.o.Auth, p.o.RepoDir, p.o.SignKey)
}

// plan is the strategy's plan, shown in the result.
func (p *promotion) plan(ctx context.Context) error {
	c, err := p.strategy.Plan(ctx, p.w)
	if err != nil {
		return err
	}
	p.change = c
	p.res.Target.Revision = c.Branch + "@sha1:" + c.Head
	if c.TargetRevision != "" {
		p.res.Target.Revision = c.TargetRevision
	}
	p.res.Tag = c.Tag
	if c.Pin != nil {
		p.res.Pin = c.Pin.describe(p.w, c.Released.Name, c.Tag)
	}
	fillPlan(p.res, c.Plan)
	p.res.CommitCount = c.CommitCount
	for _, cm := range c.Commits {
		p.res.Commits = append(p.res.Commits, v1alpha1.PromotedCommit{SHA: cm.SHA, Subject: cm.Subject, Author: cm.Author.String()})
	}
	p.preview()
	return nil
}

func (p *promotion) preview() {
	if p.o.Preview != nil {
		p.o.Preview(p.res)
	}
}

// decide stops the promotion before anything is written when there is nothing to do
// (finishing an earlier run's announcement if Flux never got it), when a gate failed
// without --force, on a dry run, or when the user says no; and checks that the
// commit, once pushed, may be announced.
func (p *promotion) decide(ctx context.Context) (Provenance, bool, error) {
	pr := p.o.Progress
	if p.change.empty() {
		return Provenance{}, true, p.nothingToDo(ctx)
	}
	if !p.gates.Passed() {
		if !p.o.Force {
			return Provenance{}, true, &BlockedError{Failed: p.gates.Failed()}
		}
		p.res.Forced = true
		pr.Failed("gates failed (%s): promoting anyway because of --force", strings.Join(p.gates.Failed(), ", "))
	}
	if p.o.DryRun {
		p.res.Outcome = OutcomeDryRun
		pr.Done("dry run: nothing was committed, pushed or annotated")
		return Provenance{}, true, nil
	}
	author, err := readyToWrite(ctx, p.w.Target, p.w.Repo, p.o.Author, func() (bool, error) { return confirm(p.o.Confirm, p.res) })
	if err != nil {
		return Provenance{}, true, err
	}
	gatesTrailer := "passed"
	if p.res.Forced {
		gatesTrailer = "forced (failed: " + strings.Join(p.gates.Failed(), ", ") + ")"
	}
	return Provenance{From: p.w.Source.Ref.String(), FromRevision: p.w.SourceRevision, To: p.w.Target.Ref.String(),
		By: whoAmI(ctx, p.w.Target.Cluster), Gates: gatesTrailer, Author: author}, false, nil
}

// nothingToDo ends a promotion whose target already has the change on its branch.
// If the last promotion to the target is on the branch but Flux has not applied it
// (an earlier run pushed it and could not announce it), it announces it now, and
// with --wait follows it: a re-run finishes what the first run left.
func (p *promotion) nothingToDo(ctx context.Context) error {
	pr := p.o.Progress
	p.res.Outcome = OutcomeNothingToDo
	pending, err := p.pendingPromotion(ctx)
	if err != nil || pending == "" {
		pr.Done("nothing to promote: %s already runs what %s runs", p.w.Target.Name, p.w.Source.Name)
		return nil
	}
	pr.Failed("promotion %s is on branch %s but %s has not applied it: asking Flux to reconcile it", repo.ShortSHA(pending), p.change.Branch, p.w.Target.Name)
	if p.o.DryRun {
		pr.Done("dry run: nothing was annotated")
		return nil
	}
	if err := checkPermissions(ctx, p.w.Target); err != nil {
		return err
	}
	p.res.Outcome = OutcomeResumed
	p.res.Commit = &v1alpha1.Commit{SHA: pending, Branch: p.change.Branch, Revision: p.change.Branch + "@sha1:" + pending}
	out, err := followUp(ctx, p.w, pending, p.followOptions(nil))
	p.res.Reconcile = out
	return err
}

// pendingPromotion is the newest promotion or rollback to the target on its branch,
// when the target has not applied a revision containing it; "" when it has.
func (p *promotion) pendingPromotion(ctx context.Context) (string, error) {
	entries, err := Entries(ctx, p.w.Repo, p.change.Branch, p.w.Target.Kustomization.Spec.Path, p.w.Target.Ref.String(), 0)
	if err != nil {
		return "", err
	}
	to := p.w.Target.Ref.String()
	for _, e := range entries {
		if e.To != to {
			continue
		}
		applied := p.w.Target.Kustomization.Status.LastAppliedRevision
		if applied != "" {
			sha, err := flux.CommitSHA(applied)
			if err != nil {
				return "", nil
			}
			if ok, err := p.w.Repo.IsAncestor(ctx, e.Commit, sha); err != nil || ok {
				return "", err
			}
		}
		return e.Commit, nil
	}
	return "", nil
}

// write delivers the change through the strategy.
func (p *promotion) write(ctx context.Context, prov Provenance) (*Delivery, error) {
	pr := p.o.Progress
	if p.review != nil {
		pr.Doing("committing to a review branch from %s", p.change.Branch)
	} else {
		pr.Doing("committing to branch %s", p.change.Branch)
	}
	d, err := p.strategy.Deliver(ctx, p.w, p.change, prov)
	if d != nil && d.Plan != nil {
		fillPlan(p.res, d.Plan)
	}
	if err != nil {
		var unknown *repo.PushUnknownError
		if errors.As(err, &unknown) {
			p.res.Commit = &v1alpha1.Commit{SHA: unknown.Commit, Branch: unknown.Branch, Revision: unknown.Branch + "@sha1:" + unknown.Commit}
			return nil, &UnannouncedError{Commit: unknown.Commit, Env: p.w.Target, Err: err}
		}
		return nil, protectedBranch(err, p.change.Branch)
	}
	if d.Review != nil {
		return d, p.proposed(ctx, d)
	}
	if d.Push.NoOp {
		p.res.Outcome = OutcomeNothingToDo
		pr.Done("nothing to promote: branch %s already has these versions", p.change.Branch)
		return d, nil
	}
	p.res.Commit = commitOf(d.Push, d.Spec)
	p.res.Outcome = OutcomePromoted
	if d.pin != nil {
		prev := ""
		if p.res.Pin != nil {
			prev = p.res.Pin.Previous
		}
		p.res.Pin = d.pin.describe(p.w, prev, d.Tag)
		p.res.Pin.Commit = d.PinCommit
		p.res.Tag, p.res.Commit.Revision = d.Tag, d.Tag+"@sha1:"+d.Push.Commit
		pr.Done("pushed %s with tag %s and %s pinning it (%s) to branch %s", repo.ShortSHA(d.Push.Commit), d.Tag, repo.ShortSHA(d.PinCommit), p.res.Pin.File, p.res.Pin.Branch)
		return d, nil
	}
	if d.Tag != "" {
		p.res.Tag = d.Tag
		p.res.Commit.Revision = d.Tag + "@sha1:" + d.Push.Commit
		pr.Done("pushed %s to branch %s with tag %s (%s)", repo.ShortSHA(d.Push.Commit), d.Push.Branch, d.Tag, p.res.Commit.Subject)
		return d, nil
	}
	pr.Done("pushed %s to branch %s (%s)", repo.ShortSHA(d.Push.Commit), d.Push.Branch, p.res.Commit.Subject)
	return d, nil
}

// follow announces the pushed commit and, with --wait, follows it; a target that
// fails health is rolled back with --rollback-on-failure. ctx bounds the wait; the
// rollback gets a --timeout of its own from parent, the wait having perhaps used all
// of ctx's (a target that did not become healthy in time is unhealthy too).
func (p *promotion) follow(ctx, parent context.Context, d *Delivery, prov Provenance) error {
	commit := d.Push.Commit
	if d.Review != nil {
		merged, err := p.merged(ctx, d)
		if err != nil || merged == "" {
			return err
		}
		commit = merged
	}
	out, err := followUp(ctx, p.w, commit, p.followOptions(d))
	p.res.Reconcile = out
	var unhealthy *UnhealthyError
	if errors.As(err, &unhealthy) {
		p.o.Progress.Failed("%v", err)
		if p.o.RollbackOnFailure {
			rctx, cancel := context.WithTimeout(parent, p.o.Timeout)
			defer cancel()
			p.res.Rollback = p.rollBack(rctx, d, prov)
		}
	}
	return err
}

func (p *promotion) followOptions(d *Delivery) followOptions {
	fo := followOptions{wait: p.o.Wait, progress: p.o.Progress}
	if c, ok := p.strategy.(carrier); ok && d != nil {
		fo.carries = func(ctx context.Context, sha string) (bool, error) { return c.Carries(ctx, p.w, d, sha) }
	}
	if d != nil && d.pin != nil {
		fo.via = &via{env: d.pin.via, commit: d.PinCommit}
	}
	return fo
}

// rollBack reverts a promotion whose target failed health, pushes, announces and
// waits for the target to be Ready on the revert.
func (p *promotion) rollBack(ctx context.Context, d *Delivery, prov Provenance) *v1alpha1.AutoRollback {
	pr := p.o.Progress
	promoted, branch := d.Push.Commit, d.Push.Branch
	if d.Review != nil {
		// The merge (or squash) commit on the tracked branch is what to revert.
		promoted, branch = d.Review.pr.MergeCommit, p.review.base
	}
	pr.Doing("rolling back %s on branch %s", repo.ShortSHA(promoted), branch)
	out := &v1alpha1.AutoRollback{}
	subject := fmt.Sprintf("rollback(%s): revert %s, the target failed health", p.w.Target.Name, repo.ShortSHA(promoted))
	trailers := []repo.Trailer{
		{Key: history.TrailerRolledBack, Value: promoted},
		{Key: history.TrailerTo, Value: p.w.Target.Ref.String()},
		{Key: history.TrailerBy, Value: prov.By},
		{Key: history.TrailerReason, Value: "--rollback-on-failure: the promoted revision failed health"},
	}
	undo := v1alpha1.HistoryEntry{Commit: promoted}
	if d.Review != nil {
		undo.Subject = d.Review.pr.Title
	}
	if p.o.FFOnly {
		// A fast-forward made no commit of its own: revert the range it moved over.
		undo.Base = d.Push.Parent
		trailers = append(trailers[:1:1], append([]repo.Trailer{{Key: history.TrailerRange, Value: undo.Base + ".." + promoted}}, trailers[1:]...)...)
	}
	if p.review != nil {
		return p.reviewRevert(ctx, undo, subject, trailers, prov.Author)
	}
	pushed, spec, err := revert(ctx, p.w.Repo, branch, "", []v1alpha1.HistoryEntry{undo}, subject, trailers, prov.Author, p.o.PushAttempts)
	if err != nil {
		out.Error = err.Error()
		pr.Failed("rollback failed: %v", err)
		return out
	}
	out.Commit = commitOf(pushed, spec)
	pr.Done("pushed rollback %s to branch %s", repo.ShortSHA(pushed.Commit), branch)
	rout, err := followUp(ctx, p.w, pushed.Commit, followOptions{wait: true, progress: pr})
	out.Reconcile = rout
	if err != nil {
		out.Error = err.Error()
		pr.Failed("rollback pushed but the target did not become Ready: %v", err)
	} else {
		pr.Done("rolled back: %s is Ready on %s", p.w.Target.Name, rout.AppliedRevision)
	}
	return out
}

func (p *promotion) close() {
	if p.w != nil {
		p.w.close()
	}
}

// open fetches the repository the target reads and checks out the source's applied
// revision.
func (w *Workspace) open(ctx context.Context, pr Progress, auth repo.Auth, repoDir string, key *sign.Key) error {
	pr.Doing("fetching %s", repo.RedactURL(w.Target.Source.Spec.URL))
	opts := repo.Options{URL: w.Target.Source.Spec.URL, Auth: auth, RepoDir: repoDir}
	if key != nil { // a nil *sign.Key in the interface would not be nil
		opts.Signer = key
	}
	r, err := repo.Open(ctx, opts)
	if err != nil {
		return err
	}
	w.Repo = r
	if w.Scratch, err = os.MkdirTemp("", "kubectl-promote-"); err != nil {
		return err
	}
	if w.SourceCommit != "" {
		dir, err := w.checkout(ctx, w.SourceCommit, "source")
		if err != nil {
			return fmt.Errorf("checking out the source's applied revision %s: %w", w.SourceRevision, err)
		}
		w.SourceDir = dir
	}
	return nil
}

// checkout writes commit sha into a new directory of the scratch space named name.
func (w *Workspace) checkout(ctx context.Context, sha, name string) (string, error) {
	dir, err := w.scratch(name)
	if err != nil {
		return "", err
	}
	return dir, w.Repo.Checkout(ctx, sha, dir)
}

// protectedBranch says, of a push the server refused for another reason than a
// race, which branch refused it and what review mode will offer.
func protectedBranch(err error, branch string) error {
	if !errors.Is(err, repo.ErrPushRejected) {
		return err
	}
	return fmt.Errorf("%w; nothing was pushed: if branch %q is protected, it takes changes through pull requests, and review mode (--review, which pushes to a promotion branch and opens one) is not available yet: push with credentials allowed to write to %q", err, branch, branch)
}

// planInput is what plan.Compute needs to plan the images of targetDir.
func (w *Workspace) planInput(targetDir string) plan.Input {
	return plan.Input{SourceDir: w.SourceDir, TargetDir: targetDir, Source: w.Source.Kustomization, Target: w.Target.Kustomization,
		SourceClient: w.Source.Cluster.Client, TargetClient: w.Target.Cluster.Client, Filter: w.Filter, SourceRender: w.sourceRender}
}

func (w *Workspace) close() {
	if w.Repo != nil {
		w.Repo.Close()
	}
	if w.Scratch != "" {
		os.RemoveAll(w.Scratch)
	}
}

func describeEnv(env *flux.Environment, ref flux.GitRef, revision string) v1alpha1.Environment {
	return v1alpha1.Environment{
		Name: env.Name, Context: env.Ref.Context, Namespace: env.Ref.Namespace, Kustomization: env.Ref.Name,
		GitRepository: env.Source.Namespace + "/" + env.Source.Name, URL: repo.RedactURL(env.Source.Spec.URL),
		Branch: ref.Branch, Path: env.Kustomization.Spec.Path, Revision: revision,
	}
}

func fillPlan(res *v1alpha1.Promotion, pl *plan.Plan) {
	res.Changes = []v1alpha1.Change{}
	for _, c := range pl.Changes {
		res.Changes = append(res.Changes, v1alpha1.Change{Image: c.Repository, From: c.From.Version(), To: c.To.Version(),
			FromRef: c.From.String(), ToRef: c.To.String(), Apps: c.Apps, Workloads: c.Workloads})
	}
	res.Files = []v1alpha1.File{}
	for _, f := range pl.Files {
		res.Files = append(res.Files, v1alpha1.File{Path: f.Path, Diff: f.UnifiedDiff()})
	}
	res.RenderedDiff = pl.RenderedDiff
}

func commitOf(p *repo.PushResult, spec *repo.CommitSpec) *v1alpha1.Commit {
	c := &v1alpha1.Commit{SHA: p.Commit, Parent: p.Parent, Branch: p.Branch, Attempts: p.Attempts, Revision: p.Branch + "@sha1:" + p.Commit}
	if spec != nil {
		c.Subject = spec.Message
		for _, t := range spec.Trailers {
			c.Trailers = append(c.Trailers, v1alpha1.Trailer{Key: t.Key, Value: t.Value})
		}
	}
	return c
}

// readyToWrite is what every push is preceded by: the permission to announce it to
// Flux (so a commit is never pushed unannounced), the user's yes, and the author.
func readyToWrite(ctx context.Context, env *flux.Environment, r *repo.Repo, author *repo.Signature, confirm func() (bool, error)) (repo.Signature, error) {
	if err := checkPermissions(ctx, env); err != nil {
		return repo.Signature{}, err
	}
	ok, err := confirm()
	if err != nil {
		return repo.Signature{}, err
	}
	if !ok {
		return repo.Signature{}, ErrDeclined
	}
	return authorOf(author, r)
}

// confirm asks ask about res; no question means yes.
func confirm[T any](ask func(T) (bool, error), res T) (bool, error) {
	if ask == nil {
		return true, nil
	}
	return ask(res)
}

// authorOf is --author, else the user's git identity (the checkout's own config first with --repo-dir).
func authorOf(a *repo.Signature, r *repo.Repo) (repo.Signature, error) {
	if a != nil {
		return *a, nil
	}
	return r.Author()
}

func orNone(s string) string {
	if s == "" {
		return "nothing yet"
	}
	return s
}

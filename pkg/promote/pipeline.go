// Package promote ties kubectl-promote together: it reads the source and target
// environments, plans the change with the Strategy their sources call for, checks
// the gates, delivers the change with provenance through a Channel, asks Flux to
// reconcile now and follows the targets. It returns one result value that the
// command prints as text or as a machine-readable document.
//
// # One pipeline
//
// A promotion is waves of targets; one target (Run) is one wave of one target, a
// fleet (RunWaves) several. Every shape runs the same phases, once, in pipeline.go:
//
//	load      read the source once and every target in parallel (Source), choose
//	          each target's Strategy and refuse what it cannot do (refusals.go)
//	gate      the built-in gates (pkg/gates) and Options.Gates, per target
//	plan      open the repository once, render the source once, Strategy.Plan
//	decide    nothing to do (or finish an earlier run's unannounced push), gates,
//	          dry run, permission to announce, confirmation, provenance
//	deliver   per wave: the wave's targets grouped one commit per branch (the only
//	          fleet-only step with the ordering of waves), Strategy.Deliver through
//	          the Channel (a push to the tracked branch, or a pull request)
//	announce  the Channel says what Flux is to apply (the pushed commit, or a pull
//	          request's merge commit once merged); reconcile annotations
//	follow    every target of the wave in parallel until Ready (followUp), then
//	          Options.Verifiers; the next wave only after that (and --wave-soak)
//	undo      with --rollback-on-failure, Strategy.Undo of the failed wave's groups
//	          through the same Channel (Channel.Revert). `kubectl promote rollback`
//	          (rollback.go) undoes through the same Strategy.Undo and Channel: the
//	          Source's ChooseUndo picks the strategy from the target alone, and the
//	          revert lands as a push, a pull request (--review), or for a tag
//	          target as a new tag or the previous pin (the tag strategy's undo,
//	          tagundo.go), for an OCI target as its tag moved back (oci.go)
//
// # Where to add things
//
//   - A strategy: a type implementing Strategy (strategy.go has images; revision.go
//     and tag.go the others), registered by name in strategies (strategy.go), its
//     refusals in the one table of refusals.go, and chosen by its Source's Choose.
//     Nothing outside the registry switches on a strategy's name: what differs is
//     a method (Plan, Deliver, Record, Undo, Action). Its Undo serves both
//     --rollback-on-failure and `kubectl promote rollback`; an undo that needs a
//     plan of its own before the confirmation (a new tag; an OCI tag to move back)
//     implements undoPlanner, else the revert is previewed on the target's branch
//     (planRevert).
//   - A channel: a type implementing Channel (channel.go: pushChannel and
//     pullRequestChannel), chosen in newChannel (and newRollbackChannel). Its
//     Revert lands every undo, automatic or asked for.
//   - A source: a type implementing Source (source.go: gitRepositorySource; oci.go:
//     ociRepositorySource), registered in sourceKinds under the kind a
//     Kustomization's sourceRef names. It opens the workspace and chooses the
//     strategies of its kind (and, to be rolled back, implements rollbackSource:
//     ChooseUndo). The OCIRepository source brings its own strategies (retag, copy,
//     semver: a digest written to the registry) and plugs in without touching the
//     pipeline; what only reads or writes a registry is in pkg/oci. flux.LoadAny,
//     which reads the environment's source object, learns a new kind too.
//   - A gate (a policy: windows, required review, allowed upstreams): a Gate in
//     Options.Gates. Its failures block like the built-in gates; --force overrides.
//   - A verification after the target is Ready (signatures, smoke tests): a Verifier
//     in Options.Verifiers. Its error counts as failed health: exit code 4, and the
//     undo with --rollback-on-failure.
//   - Someone to tell about deliveries (commit statuses): an Observer in
//     Options.Observers, told when a commit is pushed and how each target ended.
package promote

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/gates"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
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
	// Strategy is --strategy: "auto" (or empty) picks the one the sources call for.
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
	// Timeout bounds everything before the confirmation, and again each wave after
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
	// Review, when set (--review), delivers through a pull request (channel.go).
	Review *ReviewOptions
	// Registry is how OCI registries are reached, for environments reading an
	// OCIRepository (oci.go).
	Registry oci.Options
	// Gates, Verifiers and Observers extend the pipeline (see extend.go).
	Gates     []Gate
	Verifiers []Verifier
	Observers []Observer
}

// Run performs one promotion: a pipeline of one wave of one target. It always
// returns a Promotion describing how far it got, with an error when it did not end
// promoted, nothing-to-promote, resumed, review-open or dry-run.
func Run(ctx context.Context, clients *flux.Clients, o Options) (*v1alpha1.Promotion, error) {
	wo := WaveOptions{Options: o, Waves: [][]flux.RefSpec{{o.To}}, Given: []string{o.To.Raw}}
	p := newPipeline(clients, wo, false)
	defer p.close()
	t := p.waves[0][0]
	p.preview = func() {
		if o.Preview != nil {
			o.Preview(t.res)
		}
	}
	p.confirm = func() (bool, error) { return confirm(o.Confirm, t.res) }
	err := p.run(ctx)
	if err != nil {
		t.res.Error = err.Error()
		t.res.Outcome = outcomeOf(err)
	}
	return t.res, err
}

// RunWaves performs a fleet promotion. It always returns a FleetPromotion describing
// how far it got, with an error when it did not end promoted, nothing-to-promote or
// dry-run; the error maps to the same exit codes as a single promotion's.
func RunWaves(ctx context.Context, clients *flux.Clients, o WaveOptions) (*v1alpha1.FleetPromotion, error) {
	p := newPipeline(clients, o, true)
	defer p.close()
	p.preview = func() {
		if o.Preview != nil {
			o.Preview(p.document())
		}
	}
	p.confirm = func() (bool, error) { return confirm(o.Confirm, p.document()) }
	err := p.run(ctx)
	if err != nil {
		p.res.Error = err.Error()
		p.res.Outcome = outcomeOf(err)
	}
	p.document()
	return p.res, err
}

// pipeline is one promotion of waves of targets: the source read once, the
// repository and the source's checkout shared by every target, and the document.
type pipeline struct {
	o       WaveOptions
	clients *flux.Clients
	// fleet says the targets were given as a fleet: its progress names waves, and
	// its errors name targets.
	fleet   bool
	res     *v1alpha1.FleetPromotion
	src     *flux.Environment
	base    *Workspace // the repository and the source checkout every target shares
	waves   [][]*target
	channel Channel
	prov    Provenance // the provenance of every commit, but for its targets
	// ours are the commits this run pushed, each with its parent.
	ours      map[string]string
	rollbacks []waveRollback
	preview   func()
	confirm   func() (bool, error)
}

func newPipeline(clients *flux.Clients, o WaveOptions, fleet bool) *pipeline {
	if o.PushAttempts <= 0 {
		o.PushAttempts = DefaultPushAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProgressFor == nil {
		o.ProgressFor = func(string) Progress { return o.Progress }
	}
	p := &pipeline{o: o, clients: clients, fleet: fleet, res: v1alpha1.NewFleetPromotion(strings.Join(o.Given, " ")), ours: map[string]string{}}
	p.res.WaveSoak = o.WaveSoak.Seconds()
	p.res.Outcome = OutcomeFailed
	p.waves = make([][]*target, len(o.Waves))
	for wi, wave := range o.Waves {
		for _, spec := range wave {
			t := &target{spec: spec, o: &p.o.Options, wave: wi, progress: o.ProgressFor(spec.Raw), res: v1alpha1.NewPromotion(spec.Raw)}
			if fleet {
				t.res.APIVersion, t.res.Kind = "", ""
			}
			t.res.Outcome = OutcomeFailed
			p.waves[wi] = append(p.waves[wi], t)
		}
	}
	p.channel = newChannel(p.o.Review)
	return p
}

func (p *pipeline) run(ctx context.Context) error {
	before, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	// One look at the fleet: a source its targets share is read once.
	look := flux.WithSharedReads(before)
	if err := p.load(look); err != nil {
		return err
	}
	if err := p.refuse(before); err != nil {
		return err
	}
	p.gate(look)
	if p.src.Kustomization.Status.LastAppliedRevision == "" {
		// Nothing to render or promote; the gates say why.
		p.preview()
		return &BlockedError{Failed: p.res.Gates.Failed()}
	}
	if err := p.plan(before); err != nil {
		return err
	}
	p.preview()
	done, err := p.decide(before)
	if done || err != nil {
		return err
	}
	return p.runWaves(ctx, true)
}

// runWaves runs every wave in order, soaking between them when soak is set, and
// sets the outcome.
func (p *pipeline) runWaves(ctx context.Context, soak bool) error {
	for wi := range p.waves {
		if err := p.runWave(ctx, wi); err != nil {
			return p.stopped(wi, err)
		}
		if soak {
			if err := p.soak(ctx, wi); err != nil {
				return err
			}
		}
	}
	p.res.Outcome = p.outcome()
	return nil
}

// named is err of target t, named by its --to value in a fleet.
func (p *pipeline) named(t *target, err error) error {
	if err == nil || !p.fleet {
		return err
	}
	return fmt.Errorf("target %s: %w", t.spec.Raw, err)
}

// load reads the source once and every target in parallel, and chooses each
// target's strategy, refusing what it cannot do before anything else.
func (p *pipeline) load(ctx context.Context) error {
	var src *flux.Environment
	var srcErr error
	targets := p.all()
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	wg.Add(1 + len(targets))
	go func() { defer wg.Done(); src, srcErr = loadWithin(ctx, p.clients, p.o.From) }()
	for i, t := range targets {
		go func() { defer wg.Done(); t.dst, errs[i] = loadWithin(ctx, p.clients, t.spec) }()
	}
	wg.Wait()
	// The source's error first, then the targets' in order, whichever came first.
	if srcErr != nil {
		return fmt.Errorf("source %s: %w", p.o.From.Raw, srcErr)
	}
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("target %s: %w", targets[i].spec.Raw, err)
		}
	}
	p.src = src
	p.res.Source = describeEnv(src, flux.RefOf(src.Source), src.Kustomization.Status.LastAppliedRevision)
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range p.all() {
		g.Go(func() error {
			err := t.use(gctx, src, modesOf(p))
			if err == nil {
				err = p.channel.prepare(t)
			}
			return p.named(t, err)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if p.fleet {
		p.o.Progress.Done("source %s: Kustomization %s/%s applied %s", src.Name, src.Ref.Namespace, src.Ref.Name, cmp.Or(src.Kustomization.Status.LastAppliedRevision, "nothing yet"))
	}
	return p.checkWaves()
}

// LoadTimeout bounds the first reading of each environment's cluster: a cluster
// that does not answer (down, or behind a listener that never replies) fails the
// promotion after this long, with one error naming it, before anything is written,
// instead of holding every other target until --timeout.
var LoadTimeout = 30 * time.Second

// loadWithin is flux.LoadAny within LoadTimeout.
func loadWithin(ctx context.Context, clients *flux.Clients, spec flux.RefSpec) (*flux.Environment, error) {
	lctx, cancel := context.WithTimeout(ctx, LoadTimeout)
	defer cancel()
	env, err := flux.LoadAny(lctx, clients, spec)
	if err != nil && lctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("the API server did not answer within %s: check the cluster is up and reachable", LoadTimeout)
	}
	return env, err
}

// gateInput is what Options.Gates judge of target t.
func (p *pipeline) gateInput(t *target) GateInput {
	return GateInput{Source: p.src, Target: t.w.Target, Strategy: t.strategy.Name(), Review: p.o.Review != nil,
		Signed: p.o.SignKey != nil, MinSoak: p.o.MinSoak}
}

// refuse asks the Options.Gates that are Refusers whether a target is refused
// outright (required signing): before the gates, the plan and anything written.
func (p *pipeline) refuse(ctx context.Context) error {
	for _, t := range p.all() {
		for _, extra := range p.o.Gates {
			if r, ok := extra.(Refuser); ok {
				if err := r.Refuse(ctx, p.gateInput(t)); err != nil {
					return p.named(t, err)
				}
			}
		}
	}
	return nil
}

// gate reads the source's gates once and every target's (the built-in ones and
// Options.Gates) in parallel.
func (p *pipeline) gate(ctx context.Context) {
	var wg sync.WaitGroup
	var srcGates v1alpha1.Gates
	wg.Add(1)
	go func() {
		defer wg.Done()
		srcGates = gates.Source(ctx, p.src, gates.SourceOptions{MinSoak: p.o.MinSoak})
	}()
	for _, t := range p.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.gates = gates.Target(ctx, t.w.Target)
			for _, extra := range p.o.Gates {
				t.gates = append(t.gates, extra.Check(ctx, p.gateInput(t))...)
			}
		}()
	}
	wg.Wait()
	p.res.Gates = append(v1alpha1.Gates{}, srcGates...)
	for _, t := range p.all() {
		p.res.Gates = append(p.res.Gates, t.gates...)
		t.gates = append(append(v1alpha1.Gates{}, srcGates...), t.gates...)
		t.res.Gates = t.gates
	}
}

// plan opens the repository once, checks out and renders the source once, checks
// out each target branch's head once (see plan.SharedTree), and plans every target:
// targets of different branches in parallel, those of one branch one after another
// on its checkout.
func (p *pipeline) plan(ctx context.Context) error {
	first := p.waves[0][0]
	p.base = &Workspace{Source: p.src, Target: first.w.Target, SourceRevision: first.w.SourceRevision, source: first.w.source, registry: first.w.registry}
	sha, err := p.base.source.Commit(p.base.SourceRevision)
	if err != nil {
		return fmt.Errorf("source %s: lastAppliedRevision %q: %w", p.src.Name, p.base.SourceRevision, err)
	}
	p.base.SourceCommit = sha
	if err := p.base.source.Open(ctx, p.base, openOptions{progress: p.o.Progress, auth: p.o.Auth, repoDir: p.o.RepoDir, key: p.o.SignKey}); err != nil {
		return err
	}
	srcOut, err := render.Render(ctx, render.Input{Dir: p.base.SourceDir, Kustomization: p.src.Kustomization, Client: p.src.Cluster.Client})
	if err != nil {
		return fmt.Errorf("rendering the source %s: %w", p.src.Name, err)
	}
	for _, t := range p.all() {
		if err := t.w.share(p.base, srcOut); err != nil {
			return err
		}
	}
	if err := p.shareTrees(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range p.all() {
		g.Go(func() error {
			if err := t.plan(gctx); err != nil {
				return p.named(t, err)
			}
			if p.fleet {
				t.progress.Done("plan: %d image(s) to change in %s of branch %s", len(t.change.Plan.Changes), t.w.Target.Kustomization.Spec.Path, t.change.Branch)
			}
			return nil
		})
	}
	return g.Wait()
}

// decide stops before anything is written when there is nothing to do (finishing
// an earlier run's push that Flux was never told of), when a gate failed without
// --force, on a dry run or at the user's no; checks every target's permission to
// announce (so nothing is pushed unannounced); and sets the provenance.
func (p *pipeline) decide(ctx context.Context) (bool, error) {
	if err := p.findPending(ctx); err != nil {
		return true, err
	}
	if p.empty() {
		return true, p.nothingToDo(ctx)
	}
	if !p.res.Gates.Passed() {
		if !p.o.Force {
			p.setOutcome(OutcomeBlocked)
			return true, &BlockedError{Failed: p.res.Gates.Failed()}
		}
		p.res.Forced = true
		for _, t := range p.all() {
			t.res.Forced = true
		}
		p.o.Progress.Failed("gates failed (%s): promoting anyway because of --force", strings.Join(p.res.Gates.Failed(), ", "))
	}
	if p.o.DryRun {
		p.res.Outcome = OutcomeDryRun
		p.setOutcome(OutcomeDryRun)
		p.o.Progress.Done("dry run: nothing was committed, pushed or annotated")
		return true, nil
	}
	if err := p.permitted(ctx); err != nil {
		return true, err
	}
	ok, err := p.confirm()
	if err != nil {
		return true, err
	}
	if !ok {
		return true, ErrDeclined
	}
	author, err := authorOf(p.o.Author, p.commitRepo())
	if err != nil {
		return true, err
	}
	gatesTrailer := "passed"
	if p.res.Forced {
		gatesTrailer = "forced (failed: " + strings.Join(p.res.Gates.Failed(), ", ") + ")"
	}
	p.prov = Provenance{From: p.src.Ref.String(), FromRevision: p.base.SourceRevision, By: flux.WhoAmI(ctx, p.waves[0][0].w.Target.Cluster), Gates: gatesTrailer, Author: author}
	return false, nil
}

// commitRepo is the repository the promotion commits to, whose Git identity is the
// author: the one fetched for the source, or for OCI targets (which fetch none) the
// first one a target fetched (the manifest of a digest pinned in Git); nil when
// nothing is committed (registry writes).
func (p *pipeline) commitRepo() *repo.Repo {
	if p.base.Repo != nil {
		return p.base.Repo
	}
	for _, t := range p.all() {
		if t.w.Repo != nil {
			return t.w.Repo
		}
	}
	return nil
}

// empty says no target has a change to deliver.
func (p *pipeline) empty() bool {
	for _, t := range p.all() {
		if !t.change.empty() {
			return false
		}
	}
	return true
}

// setOutcome sets the outcome of every target with a change.
func (p *pipeline) setOutcome(outcome string) {
	for _, t := range p.all() {
		if !t.change.empty() {
			t.res.Outcome = outcome
		}
	}
}

// permitted checks, for every target, the permission to announce a commit to Flux
// (on a source several targets share, once).
func (p *pipeline) permitted(ctx context.Context) error {
	g, gctx := errgroup.WithContext(flux.WithSharedReads(ctx))
	for _, t := range p.all() {
		g.Go(func() error { return reconcile.CanAnnounce(gctx, t.w.Target) })
	}
	return g.Wait()
}

// findPending finds, for every target with nothing to change, the promotion an
// earlier run pushed and Flux has not applied (see target.pendingPromotion).
func (p *pipeline) findPending(ctx context.Context) error {
	for _, t := range p.all() {
		if !t.change.empty() {
			continue
		}
		t.res.Outcome = OutcomeNothingToDo
		sha, err := t.pendingPromotion(ctx)
		if err != nil {
			continue // as before: a history that cannot be read is nothing pending
		}
		t.pending = sha
	}
	return nil
}

// nothingToDo ends a promotion whose targets already have the change on their
// branches. A target whose last promotion is on the branch but not applied (an
// earlier run pushed it and could not announce it) is announced now, and with
// --wait followed: a re-run finishes what the first run left.
func (p *pipeline) nothingToDo(ctx context.Context) error {
	var pending []*target
	for _, t := range p.all() {
		if t.pending != "" {
			pending = append(pending, t)
		}
	}
	if len(pending) == 0 {
		if p.fleet {
			p.o.Progress.Done("nothing to promote: every target already runs what %s runs", p.src.Name)
		} else {
			t := p.waves[0][0]
			t.progress.Done("nothing to promote: %s already runs what %s runs", t.w.Target.Name, p.src.Name)
		}
		p.res.Outcome = OutcomeNothingToDo
		return nil
	}
	for _, t := range pending {
		t.progress.Failed("promotion %s is on branch %s but %s has not applied it: asking Flux to reconcile it", repo.ShortSHA(t.pending), t.change.Branch, t.w.Target.Name)
	}
	if p.o.DryRun {
		p.o.Progress.Done("dry run: nothing was annotated")
		p.res.Outcome = OutcomeNothingToDo
		return nil
	}
	if err := p.permitted(ctx); err != nil {
		return err
	}
	return p.runWaves(ctx, false)
}

// stopped marks the waves after a failed one skipped.
func (p *pipeline) stopped(wi int, err error) error {
	if !p.fleet {
		return err
	}
	for j := wi + 1; j < len(p.waves); j++ {
		for _, t := range p.waves[j] {
			t.res.Outcome = OutcomeSkipped
		}
	}
	if wi+1 < len(p.waves) {
		p.o.Progress.Failed("wave %d failed: %s not touched", wi+1, wavesRange(wi+2, len(p.waves), "was", "were"))
	}
	return fmt.Errorf("wave %d: %w", wi+1, err)
}

// soak waits --wave-soak after a wave that is not the last.
func (p *pipeline) soak(ctx context.Context, wi int) error {
	if wi+1 >= len(p.waves) || p.o.WaveSoak <= 0 {
		return nil
	}
	p.o.Progress.Waiting("wave %d is Ready: soaking %s before wave %d", wi+1, p.o.WaveSoak, wi+2)
	select {
	case <-ctx.Done():
		return &InterruptedError{Commit: p.lastCommit(wi), Env: p.waves[wi][0].w.Target}
	case <-time.After(p.o.WaveSoak):
		return nil
	}
}

// outcome folds the targets' outcomes: a pull request still open wins, then a
// promotion, then a resumed one.
func (p *pipeline) outcome() string {
	rank := map[string]int{OutcomeReviewOpen: 3, OutcomePromoted: 2, OutcomeResumed: 1}
	best := OutcomeNothingToDo
	for _, t := range p.all() {
		if rank[t.res.Outcome] > rank[best] {
			best = t.res.Outcome
		}
	}
	return best
}

// wavesRange names waves from to to: "wave 2 was" or "waves 2 to 4 were".
func wavesRange(from, to int, one, many string) string {
	if from == to {
		return fmt.Sprintf("wave %d %s", from, one)
	}
	return fmt.Sprintf("waves %d to %d %s", from, to, many)
}

func (p *pipeline) lastCommit(wi int) string {
	for _, t := range p.waves[wi] {
		if t.res.Commit != nil {
			return t.res.Commit.SHA
		}
	}
	return ""
}

// all are the targets of every wave, in order.
func (p *pipeline) all() []*target {
	var out []*target
	for _, ts := range p.waves {
		out = append(out, ts...)
	}
	return out
}

func (p *pipeline) close() {
	for _, t := range p.all() {
		if t.w != nil && t.w != p.base && t.w.Scratch != "" {
			os.RemoveAll(t.w.Scratch)
		}
		if t.w != nil && t.w.Repo != nil && (p.base == nil || t.w.Repo != p.base.Repo) {
			t.w.Repo.Close() // its own: the manifests of an OCI target's pin
		}
	}
	if p.base != nil {
		p.base.close()
	}
}

package promote

// Fleet promotion: one source, several targets in waves (--to given more than once,
// comma lists, context globs). The whole fleet is read, gated and planned before
// anything is written; each wave is then one commit per branch (every overlay the
// wave's targets read, so one revert undoes the wave), announced and followed on
// every target of the wave in parallel with the single promotion's followUp, and the
// next wave starts only once every target of this one is Ready on it (plus
// --wave-soak). A wave that fails health stops the run.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/gates"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// OutcomeSkipped is a wave (or a target of it) that an earlier wave's failure kept
// from running.
const OutcomeSkipped = "skipped"

// WaveOptions is a fleet promotion: Options for everything but the target (To,
// Confirm and Preview are not used), and the waves.
type WaveOptions struct {
	Options
	// Waves are the targets of each wave, in order; Given the --to value each wave
	// came from.
	Waves [][]flux.RefSpec
	Given []string
	// WaveSoak is how long every target of a wave stays Ready before the next starts.
	WaveSoak time.Duration
	// ProgressFor is the progress of one target (its lines prefixed by its context);
	// nil means Progress.
	ProgressFor func(target string) Progress
	// Preview is called once the whole fleet is planned and gated; Confirm is asked
	// before anything is written (nil means yes).
	Preview func(*v1alpha1.FleetPromotion)
	Confirm func(*v1alpha1.FleetPromotion) (bool, error)
}

// hasGlob says whether a --to part names contexts by a pattern.
func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// ExpandWaves turns --to values into the environments of each wave: every value is
// a wave, a comma list of environments; an environment's context (CONTEXT, or the
// first part of CONTEXT/NAMESPACE/NAME) may be a glob, which becomes every context
// it matches, sorted. A context that does not exist, or a glob that matches none, is
// an error listing the contexts there are. NAMESPACE/NAME (the current context) is
// left as it is.
func ExpandWaves(given []string, contexts []string) ([][]string, error) {
	known := map[string]bool{}
	for _, c := range contexts {
		known[c] = true
	}
	list := func() string {
		if len(contexts) == 0 {
			return "the kubeconfig has no contexts"
		}
		return "contexts: " + strings.Join(contexts, ", ")
	}
	waves := make([][]string, 0, len(given))
	seen := map[string]int{}
	for wi, value := range given {
		var wave []string
		for _, part := range strings.Split(value, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				return nil, fmt.Errorf("--to %q: an empty environment in the list", value)
			}
			ctxPart, rest := part, ""
			if n := strings.Count(part, "/"); n == 1 {
				if hasGlob(part) {
					return nil, fmt.Errorf("--to %q: a glob names contexts; write CONTEXT-GLOB or CONTEXT-GLOB/NAMESPACE/NAME", part)
				}
				wave = append(wave, part)
				continue
			} else if n >= 2 {
				i := strings.Index(part, "/")
				ctxPart, rest = part[:i], part[i:]
			}
			var matched []string
			if hasGlob(ctxPart) {
				if _, err := path.Match(ctxPart, ""); err != nil {
					return nil, fmt.Errorf("--to %q: bad glob: %v", part, err)
				}
				for _, c := range contexts {
					if ok, _ := path.Match(ctxPart, c); ok {
						matched = append(matched, c)
					}
				}
				if len(matched) == 0 {
					return nil, fmt.Errorf("--to %q matches no kubeconfig context; %s", part, list())
				}
			} else {
				if !known[ctxPart] {
					return nil, fmt.Errorf("--to %q: no kubeconfig context %q; %s", part, ctxPart, list())
				}
				matched = []string{ctxPart}
			}
			for _, c := range matched {
				env := c + rest
				if w, dup := seen[env]; dup {
					if w == wi+1 {
						return nil, fmt.Errorf("--to: %s is named twice in wave %d (%q)", env, wi+1, value)
					}
					return nil, fmt.Errorf("--to: %s is in waves %d and %d; a target is promoted once", env, w, wi+1)
				}
				seen[env] = wi + 1
				wave = append(wave, env)
			}
		}
		waves = append(waves, wave)
	}
	return waves, nil
}

// fleetRun is one RunWaves: the source read once, a promotion per target sharing one
// repository and one checkout of the source, and the document.
type fleetRun struct {
	o       WaveOptions
	clients *flux.Clients
	res     *v1alpha1.FleetPromotion
	src     *flux.Environment
	base    *Workspace // the repository and the source checkout every target shares
	waves   [][]*promotion
	author  repo.Signature
	by      string
	gates   string // the Promote-Gates trailer
	// rollbacks are the waves reverted (--rollback-on-failure).
	rollbacks []waveRollback
	// ours are the commits this run pushed, each with its parent.
	ours map[string]string
}

// RunWaves performs a fleet promotion. It always returns a FleetPromotion describing
// how far it got, with an error when it did not end promoted, nothing-to-promote or
// dry-run; the error maps to the same exit codes as a single promotion's.
func RunWaves(ctx context.Context, clients *flux.Clients, o WaveOptions) (*v1alpha1.FleetPromotion, error) {
	if o.PushAttempts <= 0 {
		o.PushAttempts = DefaultPushAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProgressFor == nil {
		o.ProgressFor = func(string) Progress { return o.Progress }
	}
	f := &fleetRun{o: o, clients: clients, res: v1alpha1.NewFleetPromotion(strings.Join(o.Given, " ")), ours: map[string]string{}}
	f.res.WaveSoak = o.WaveSoak.Seconds()
	f.res.Outcome = OutcomeFailed
	defer f.close()
	err := f.run(ctx)
	if err != nil {
		f.res.Error = err.Error()
		f.res.Outcome = outcomeOf(err)
	}
	f.document()
	return f.res, err
}

func (f *fleetRun) run(ctx context.Context) error {
	before, cancel := context.WithTimeout(ctx, f.o.Timeout)
	defer cancel()
	if err := f.load(before); err != nil {
		return err
	}
	f.gate(before)
	if f.src.Kustomization.Status.LastAppliedRevision == "" {
		f.preview()
		return &BlockedError{Failed: f.res.Gates.Failed()}
	}
	if err := f.plan(before); err != nil {
		return err
	}
	f.preview()
	done, err := f.decide(before)
	if done || err != nil {
		return err
	}
	for i := range f.waves {
		if err := f.runWave(ctx, i); err != nil {
			for j := i + 1; j < len(f.waves); j++ {
				for _, p := range f.waves[j] {
					p.res.Outcome = OutcomeSkipped
				}
			}
			if i+1 < len(f.waves) {
				f.o.Progress.Failed("wave %d failed: waves %d to %d were not touched", i+1, i+2, len(f.waves))
			}
			return fmt.Errorf("wave %d: %w", i+1, err)
		}
		if i+1 < len(f.waves) && f.o.WaveSoak > 0 {
			f.o.Progress.Waiting("wave %d is Ready: soaking %s before wave %d", i+1, f.o.WaveSoak, i+2)
			select {
			case <-ctx.Done():
				return &InterruptedError{Commit: f.lastCommit(i), Env: f.waves[i][0].w.Target}
			case <-time.After(f.o.WaveSoak):
			}
		}
	}
	f.res.Outcome = OutcomeNothingToDo
	for _, p := range f.all() {
		if p.res.Outcome == OutcomePromoted {
			f.res.Outcome = OutcomePromoted
		}
	}
	return nil
}

// load reads the source once and every target in parallel, and chooses each
// target's strategy: a fleet is promoted by image edits only.
func (f *fleetRun) load(ctx context.Context) error {
	src, err := flux.Load(ctx, f.clients, f.o.From)
	if err != nil {
		return fmt.Errorf("source %s: %w", f.o.From.Raw, err)
	}
	f.src = src
	f.res.Source = describeEnv(src, flux.RefOf(src.Source), src.Kustomization.Status.LastAppliedRevision)
	f.waves = make([][]*promotion, len(f.o.Waves))
	g, gctx := errgroup.WithContext(ctx)
	for wi, wave := range f.o.Waves {
		f.waves[wi] = make([]*promotion, len(wave))
		for ti, spec := range wave {
			opts := f.o.Options
			opts.To, opts.Confirm, opts.Preview = spec, nil, nil
			opts.Progress = f.o.ProgressFor(spec.Raw)
			p := &promotion{o: opts, clients: f.clients, res: v1alpha1.NewPromotion(spec.Raw)}
			p.res.APIVersion, p.res.Kind = "", ""
			p.res.Outcome = OutcomeFailed
			f.waves[wi][ti] = p
			g.Go(func() error {
				dst, err := flux.Load(gctx, f.clients, spec)
				if err != nil {
					return fmt.Errorf("target %s: %w", spec.Raw, err)
				}
				if err := p.use(gctx, src, dst); err != nil {
					return fmt.Errorf("target %s: %w", spec.Raw, err)
				}
				if p.strategy.Name() != StrategyImages {
					return fmt.Errorf("target %s: its layout calls for the %s strategy; a fleet (several --to targets) is promoted by image edits only: promote %s on its own", spec.Raw, p.strategy.Name(), spec.Raw)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	f.o.Progress.Done("source %s: Kustomization %s/%s applied %s", src.Name, src.Ref.Namespace, src.Ref.Name, orNone(src.Kustomization.Status.LastAppliedRevision))
	return f.sameOverlaySameWave()
}

// sameOverlaySameWave refuses targets that read the same path of the same branch in
// different waves: one commit promotes them both, so they cannot be apart.
func (f *fleetRun) sameOverlaySameWave() error {
	first := map[string]*promotion{}
	wave := map[*promotion]int{}
	for wi, ps := range f.waves {
		for _, p := range ps {
			wave[p] = wi + 1
			key := p.w.TargetRef.Branch + "\x00" + cleanPath(p.w.Target.Kustomization.Spec.Path)
			if q, ok := first[key]; ok && wave[q] != wi+1 {
				return fmt.Errorf("%s (wave %d) and %s (wave %d) both read path %s of branch %s, so one commit promotes both: put them in the same wave",
					q.o.To.Raw, wave[q], p.o.To.Raw, wi+1, p.w.Target.Kustomization.Spec.Path, p.w.TargetRef.Branch)
			} else if !ok {
				first[key] = p
			}
		}
	}
	return nil
}

func cleanPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p, "./")), "/")
}

// gate reads the source's gates once and every target's in parallel.
func (f *fleetRun) gate(ctx context.Context) {
	var wg sync.WaitGroup
	var srcGates v1alpha1.Gates
	wg.Add(1)
	go func() {
		defer wg.Done()
		srcGates = gates.Source(ctx, f.src, gates.SourceOptions{MinSoak: f.o.MinSoak})
	}()
	for _, p := range f.all() {
		wg.Add(1)
		go func() { defer wg.Done(); p.gates = gates.Target(ctx, p.w.Target) }()
	}
	wg.Wait()
	f.res.Gates = append(v1alpha1.Gates{}, srcGates...)
	for _, p := range f.all() {
		f.res.Gates = append(f.res.Gates, p.gates...)
		p.gates = append(append(v1alpha1.Gates{}, srcGates...), p.gates...)
		p.res.Gates = p.gates
	}
}

// plan opens the repository once, checks out the source once and each target
// branch's head once (see branchTree), and plans every target: targets of different
// branches in parallel, those of one branch one after another on its checkout.
func (f *fleetRun) plan(ctx context.Context) error {
	first := f.waves[0][0]
	f.base = &Workspace{Source: f.src, Target: first.w.Target, SourceRevision: first.w.SourceRevision}
	sha, err := flux.CommitSHA(f.base.SourceRevision)
	if err != nil {
		return fmt.Errorf("source %s: lastAppliedRevision %q: %w", f.src.Name, f.base.SourceRevision, err)
	}
	f.base.SourceCommit = sha
	if err := f.base.open(ctx, f.o.Progress, f.o.Auth, f.o.RepoDir, f.o.SignKey); err != nil {
		return err
	}
	// The source is rendered once, for every target.
	srcOut, err := render.Render(ctx, render.Input{Dir: f.base.SourceDir, Kustomization: f.src.Kustomization, Client: f.src.Cluster.Client})
	if err != nil {
		return fmt.Errorf("rendering the source %s: %w", f.src.Name, err)
	}
	for _, p := range f.all() {
		w := p.w
		w.Repo, w.SourceCommit, w.SourceDir, w.sourceRender = f.base.Repo, f.base.SourceCommit, f.base.SourceDir, srcOut
		if w.Scratch, err = os.MkdirTemp("", "kubectl-promote-target-"); err != nil {
			return err
		}
	}
	if err := f.shareTrees(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range f.all() {
		w := p.w
		g.Go(func() error {
			if err := p.plan(gctx); err != nil {
				return fmt.Errorf("target %s: %w", p.o.To.Raw, err)
			}
			n := len(p.change.Plan.Changes)
			p.o.Progress.Done("plan: %d image(s) to change in %s of branch %s", n, w.Target.Kustomization.Spec.Path, p.change.Branch)
			return nil
		})
	}
	return g.Wait()
}

// decide stops before anything is written when there is nothing to do, when a gate
// failed anywhere without --force, on a dry run or at the user's no; and checks every
// target's permission to announce the commit (so nothing is pushed unannounced).
func (f *fleetRun) decide(ctx context.Context) (bool, error) {
	pr := f.o.Progress
	empty := true
	for _, p := range f.all() {
		if p.change.empty() {
			p.res.Outcome = OutcomeNothingToDo
		} else {
			empty = false
		}
	}
	if empty {
		f.res.Outcome = OutcomeNothingToDo
		pr.Done("nothing to promote: every target already runs what %s runs", f.src.Name)
		return true, nil
	}
	if !f.res.Gates.Passed() {
		if !f.o.Force {
			for _, p := range f.all() {
				if !p.change.empty() {
					p.res.Outcome = OutcomeBlocked
				}
			}
			return true, &BlockedError{Failed: f.res.Gates.Failed()}
		}
		f.res.Forced = true
		for _, p := range f.all() {
			p.res.Forced = true
		}
		pr.Failed("gates failed (%s): promoting anyway because of --force", strings.Join(f.res.Gates.Failed(), ", "))
	}
	if f.o.DryRun {
		f.res.Outcome = OutcomeDryRun
		for _, p := range f.all() {
			if !p.change.empty() {
				p.res.Outcome = OutcomeDryRun
			}
		}
		pr.Done("dry run: nothing was committed, pushed or annotated")
		return true, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range f.all() {
		g.Go(func() error { return checkPermissions(gctx, p.w.Target) })
	}
	if err := g.Wait(); err != nil {
		return true, err
	}
	ok, err := confirm(f.o.Confirm, f.document())
	if err != nil {
		return true, err
	}
	if !ok {
		return true, ErrDeclined
	}
	if f.author, err = authorOf(f.o.Author, f.base.Repo); err != nil {
		return true, err
	}
	f.by = whoAmI(ctx, f.waves[0][0].w.Target.Cluster)
	f.gates = "passed"
	if f.res.Forced {
		f.gates = "forced (failed: " + strings.Join(f.res.Gates.Failed(), ", ") + ")"
	}
	return false, nil
}

// waveCommit is what one wave pushed to one branch, and the targets it promotes.
type waveCommit struct {
	branch  string
	targets []*promotion
	push    *repo.PushResult
	spec    *repo.CommitSpec
	plans   map[string]*plan.Plan // by cleaned path, as committed
}

// runWave commits the wave (one commit per branch), announces it to every target and
// follows them in parallel: always, but for the last wave only with --wait. A target
// that fails health fails the wave; with --rollback-on-failure its commits are
// reverted and followed.
func (f *fleetRun) runWave(parent context.Context, wi int) error {
	pr := f.o.Progress
	ctx, cancel := context.WithTimeout(parent, f.o.Timeout)
	defer cancel()
	last := wi == len(f.waves)-1
	wait := !last || f.o.Wait
	var names []string
	for _, p := range f.waves[wi] {
		names = append(names, p.o.To.Raw)
	}
	pr.Doing("wave %d/%d: %s", wi+1, len(f.waves), strings.Join(names, ", "))
	commits, err := f.commitWave(ctx, wi)
	if err != nil {
		return err
	}
	var pushed []*waveCommit
	for _, c := range commits {
		if !c.push.NoOp {
			pushed = append(pushed, c)
		}
	}
	if len(pushed) == 0 {
		pr.Done("wave %d: nothing to promote", wi+1)
		return nil
	}
	token, sourceDone := announceSources(ctx, pushed)
	errs := make([]error, 0)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range pushed {
		for _, p := range c.targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := &Delivery{Push: c.push, Spec: c.spec, Plan: c.plans[cleanPath(p.w.Target.Kustomization.Spec.Path)]}
				fo := followOptions{wait: wait, progress: p.o.Progress, token: token, sourceDone: sourceDone[sourceKey(p.w.Target)],
					carries: func(ctx context.Context, sha string) (bool, error) { return imagesStrategy{}.Carries(ctx, p.w, d, sha) }}
				out, err := followUp(ctx, p.w, c.push.Commit, fo)
				p.res.Reconcile = out
				if err != nil {
					p.res.Outcome = outcomeOf(err)
					p.res.Error = err.Error()
					p.o.Progress.Failed("%v", err)
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", p.o.To.Raw, err))
					mu.Unlock()
				} else if wait {
					p.o.Progress.Done("Ready on %s", out.AppliedRevision)
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	err = errors.Join(errs...)
	var unhealthy *UnhealthyError
	if errors.As(err, &unhealthy) && f.o.RollbackOnFailure {
		rctx, cancel := context.WithTimeout(parent, f.o.Timeout)
		defer cancel()
		f.rollBackWave(rctx, wi, pushed)
	}
	return firstOf(errs)
}

// firstOf is the first error, with the others' targets named: the exit code is the
// first failure's.
func firstOf(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("%w (and %d other target(s) failed)", errs[0], len(errs)-1)
}

// commitWave lands the wave on each branch its targets read: one commit editing
// every overlay of the wave on that branch, with a Promoted-To trailer per target.
func (f *fleetRun) commitWave(ctx context.Context, wi int) ([]*waveCommit, error) {
	var commits []*waveCommit
	byBranch := map[string]*waveCommit{}
	for _, p := range f.waves[wi] {
		if p.change.empty() {
			continue
		}
		c := byBranch[p.change.Branch]
		if c == nil {
			c = &waveCommit{branch: p.change.Branch}
			byBranch[p.change.Branch] = c
			commits = append(commits, c)
		}
		c.targets = append(c.targets, p)
	}
	for _, c := range commits {
		f.o.Progress.Doing("wave %d: committing to branch %s for %s", wi+1, c.branch, targetNames(c.targets))
		pushed, err := f.base.Repo.CommitAndPush(ctx, c.branch, func(ctx context.Context, head, dir string) (*repo.CommitSpec, error) {
			return f.waveSpec(ctx, c, head, dir)
		}, repo.PushOptions{MaxAttempts: f.o.PushAttempts})
		if err != nil {
			var unknown *repo.PushUnknownError
			if errors.As(err, &unknown) {
				return nil, &UnannouncedError{Commit: unknown.Commit, Env: c.targets[0].w.Target, Err: err}
			}
			return nil, protectedBranch(err, c.branch)
		}
		c.push = pushed
		if !pushed.NoOp {
			f.ours[pushed.Commit] = pushed.Parent
		}
		if pushed.NoOp {
			for _, p := range c.targets {
				p.res.Outcome = OutcomeNothingToDo
			}
			f.o.Progress.Done("wave %d: branch %s already has these versions", wi+1, c.branch)
			continue
		}
		commit := commitOf(pushed, c.spec)
		for _, p := range c.targets {
			p.res.Commit = commit.DeepCopy()
			p.res.Outcome = OutcomePromoted
			if pl := c.plans[cleanPath(p.w.Target.Kustomization.Spec.Path)]; pl != nil {
				fillPlan(p.res, pl)
			}
		}
		f.o.Progress.Done("wave %d: pushed %s to branch %s (%s)", wi+1, repo.ShortSHA(pushed.Commit), pushed.Branch, c.spec.Message)
	}
	return commits, nil
}

// waveSpec edits, in dir (the branch's head), the overlay of every distinct path the
// commit's targets read, planned from the source as a single promotion plans it.
func (f *fleetRun) waveSpec(ctx context.Context, c *waveCommit, head, dir string) (*repo.CommitSpec, error) {
	c.plans = map[string]*plan.Plan{}
	var changes []plan.Change
	seen := map[string]bool{}
	var images []repo.Trailer
	for _, p := range c.targets {
		key := cleanPath(p.w.Target.Kustomization.Spec.Path)
		if _, ok := c.plans[key]; ok {
			continue
		}
		pl, err := f.replan(ctx, p, head, dir)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", p.o.To.Raw, err)
		}
		c.plans[key] = pl
		for _, ch := range pl.Changes {
			id := ch.Repository + "\x00" + ch.From.String() + "\x00" + ch.To.String()
			if seen[id] {
				continue
			}
			seen[id] = true
			changes = append(changes, ch)
			images = append(images, repo.Trailer{Key: history.TrailerImage, Value: history.FormatImage(ch.To.String(), ch.From.Version())})
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	t := []repo.Trailer{
		{Key: history.TrailerFrom, Value: f.src.Ref.String()},
		{Key: history.TrailerFromRevision, Value: f.base.SourceRevision},
	}
	for _, p := range c.targets {
		t = append(t, repo.Trailer{Key: history.TrailerTo, Value: p.w.Target.Ref.String()})
	}
	t = append(t, images...)
	t = append(t, repo.Trailer{Key: history.TrailerBy, Value: f.by}, repo.Trailer{Key: history.TrailerGates, Value: f.gates})
	c.spec = &repo.CommitSpec{Message: Subject(targetNames(c.targets), f.src.Name, changes), Trailers: t, Author: f.author}
	return c.spec, nil
}

// replan is p's plan on head, written into dir. When head is the commit p was
// planned on, or that commit with only this run's own wave commits on top, and the
// planned files are still as they were, the plan's edit is written as it was made;
// otherwise (someone else pushed) it is computed again on head.
func (f *fleetRun) replan(ctx context.Context, p *promotion, head, dir string) (*plan.Plan, error) {
	for at := head; at != p.change.Head; {
		parent, ours := f.ours[at]
		if !ours {
			return plan.Compute(ctx, p.w.planInput(dir))
		}
		at = parent
	}
	pl := p.change.Plan
	for _, file := range pl.Files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file.Path)))
		if err != nil || !bytes.Equal(got, file.Before) {
			return plan.Compute(ctx, p.w.planInput(dir))
		}
	}
	for _, file := range pl.Files {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(file.Path)), file.After, 0o644); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

func targetNames(ps []*promotion) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.w.Target.Name
	}
	return strings.Join(names, ", ")
}

// rollBackWave reverts the failed wave's commits, one revert per branch, and follows
// every target of the wave back to Ready. Earlier waves stay promoted.
func (f *fleetRun) rollBackWave(ctx context.Context, wi int, pushed []*waveCommit) {
	pr := f.o.Progress
	out := &v1alpha1.AutoRollback{}
	if wi > 0 {
		pr.Failed("rolling back wave %d; waves 1 to %d stay promoted", wi+1, wi)
	} else {
		pr.Failed("rolling back wave 1")
	}
	var followErrs []string
	for _, c := range pushed {
		promoted := c.push.Commit
		pr.Doing("rolling back %s on branch %s", repo.ShortSHA(promoted), c.branch)
		subject := fmt.Sprintf("rollback(%s): revert %s, wave %d failed health", targetNames(c.targets), repo.ShortSHA(promoted), wi+1)
		trailers := []repo.Trailer{{Key: history.TrailerRolledBack, Value: promoted}}
		for _, p := range c.targets {
			trailers = append(trailers, repo.Trailer{Key: history.TrailerTo, Value: p.w.Target.Ref.String()})
		}
		trailers = append(trailers, repo.Trailer{Key: history.TrailerBy, Value: f.by},
			repo.Trailer{Key: history.TrailerReason, Value: "--rollback-on-failure: the promoted revision failed health"})
		res, spec, err := revert(ctx, f.base.Repo, c.branch, "", []v1alpha1.HistoryEntry{{Commit: promoted}}, subject, trailers, f.author, f.o.PushAttempts)
		if err != nil {
			out.Error = err.Error()
			pr.Failed("rollback failed: %v", err)
			continue
		}
		out.Commit = commitOf(res, spec)
		pr.Done("pushed rollback %s to branch %s", repo.ShortSHA(res.Commit), c.branch)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, p := range c.targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rb := &v1alpha1.AutoRollback{Commit: out.Commit.DeepCopy()}
				rout, err := followUp(ctx, p.w, res.Commit, followOptions{wait: true, progress: p.o.Progress})
				rb.Reconcile = rout
				if err != nil {
					rb.Error = err.Error()
					p.o.Progress.Failed("rollback pushed but the target did not become Ready: %v", err)
					mu.Lock()
					followErrs = append(followErrs, p.o.To.Raw+": "+err.Error())
					mu.Unlock()
				} else {
					p.o.Progress.Done("rolled back: Ready on %s", rout.AppliedRevision)
				}
				p.res.Rollback = rb
			}()
		}
		wg.Wait()
	}
	if len(followErrs) > 0 && out.Error == "" {
		out.Error = strings.Join(followErrs, "; ")
	}
	f.rollbacks = append(f.rollbacks, waveRollback{wave: wi, out: out})
	if out.Error == "" && wi > 0 {
		pr.Done("wave %d rolled back; waves 1 to %d stay promoted", wi+1, wi)
	}
}

// document is the FleetPromotion as it stands.
func (f *fleetRun) document() *v1alpha1.FleetPromotion {
	f.res.Waves = []v1alpha1.Wave{}
	for wi, ps := range f.waves {
		w := v1alpha1.Wave{Number: wi + 1, Targets: []v1alpha1.Promotion{}}
		if wi < len(f.o.Given) {
			w.Given = f.o.Given[wi]
		}
		shas := map[string]bool{}
		outcome := ""
		for _, p := range ps {
			w.Targets = append(w.Targets, *p.res)
			if p.res.Commit != nil && !shas[p.res.Commit.SHA] {
				shas[p.res.Commit.SHA] = true
				c := *p.res.Commit.DeepCopy()
				c.Trailers = append([]v1alpha1.Trailer(nil), c.Trailers...)
				w.Commits = append(w.Commits, c)
			}
			outcome = waveOutcome(outcome, p.res.Outcome)
		}
		w.Outcome = outcome
		for _, r := range f.rollbacks {
			if r.wave == wi {
				w.Rollback = r.out
			}
		}
		f.res.Waves = append(f.res.Waves, w)
	}
	return f.res
}

// waveOutcome folds a target's outcome into its wave's: any other than promoted or
// nothing-to-promote wins; promoted wins over nothing-to-promote.
func waveOutcome(wave, target string) string {
	switch {
	case wave == "" || wave == OutcomeNothingToDo:
		return target
	case wave == OutcomePromoted && target != OutcomeNothingToDo:
		return target
	}
	return wave
}

type waveRollback struct {
	wave int
	out  *v1alpha1.AutoRollback
}

func (f *fleetRun) preview() {
	if f.o.Preview != nil {
		f.o.Preview(f.document())
	}
}

func (f *fleetRun) lastCommit(wi int) string {
	for _, p := range f.waves[wi] {
		if p.res.Commit != nil {
			return p.res.Commit.SHA
		}
	}
	return ""
}

// all are the promotions of every wave, in order.
func (f *fleetRun) all() []*promotion {
	var out []*promotion
	for _, ps := range f.waves {
		out = append(out, ps...)
	}
	return out
}

func (f *fleetRun) close() {
	for _, p := range f.all() {
		if p.w != nil && p.w.Scratch != "" {
			os.RemoveAll(p.w.Scratch)
		}
	}
	if f.base != nil {
		f.base.close()
	}
}

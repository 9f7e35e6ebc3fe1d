package promote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// group is what one delivery lands: the targets of a wave that read one branch, one
// commit for all of them (a single target is a group of one).
type group struct {
	wave    int
	branch  string
	targets []*target
	// ours are the commits this run pushed, each with its parent (shared by the
	// pipeline): a re-plan keeps a planned edit made on one of them.
	ours map[string]string
	// landing is where the channel put the commit, d what the strategy delivered.
	landing landing
	d       *Delivery
	// commit is what Flux is to apply once the channel has landed it; "" while a
	// pull request waits.
	commit string
}

func (g *group) lead() *target { return g.targets[0] }

// to are the Promoted-To values of the group's targets.
func (g *group) to() []string {
	out := make([]string, len(g.targets))
	for i, t := range g.targets {
		out[i] = t.w.Target.Ref.String()
	}
	return out
}

// groups are the wave's targets with a change, one group per branch, in order.
func (p *pipeline) groups(wi int) []*group {
	var out []*group
	byBranch := map[string]*group{}
	for _, t := range p.waves[wi] {
		if t.change.empty() {
			continue
		}
		g := byBranch[t.change.Branch]
		if g == nil {
			g = &group{wave: wi, branch: t.change.Branch, ours: p.ours}
			byBranch[t.change.Branch] = g
			out = append(out, g)
		}
		g.targets = append(g.targets, t)
	}
	return out
}

// say prints a line of the wave on the pipeline's progress: "wave N: " first in a
// fleet.
func (p *pipeline) say(wi int, f func(string, ...any), format string, args ...any) {
	if p.fleet {
		format = "wave %d: " + format
		args = append([]any{wi + 1}, args...)
	}
	f(format, args...)
}

// runWave delivers the wave (one commit per branch, through the channel), announces
// it to every target and follows them in parallel: always when a wave comes after
// it, for the last only with --wait. A target that fails health fails the wave;
// with --rollback-on-failure the wave's deliveries are undone.
func (p *pipeline) runWave(parent context.Context, wi int) error {
	ctx, cancel := context.WithTimeout(parent, p.o.Timeout)
	defer cancel()
	wait := wi < len(p.waves)-1 || p.o.Wait
	if p.fleet {
		p.o.Progress.Doing("wave %d/%d: %s", wi+1, len(p.waves), names(p.waves[wi], func(t *target) string { return t.spec.Raw }))
	}
	groups := p.groups(wi)
	for _, g := range groups {
		if err := p.deliver(ctx, g, wait); err != nil {
			return err
		}
	}
	follows := p.follows(groups, wi)
	if len(follows) == 0 {
		if p.fleet && len(groups) == 0 {
			p.o.Progress.Done("wave %d: nothing to promote", wi+1)
		}
		return nil // nothing pushed, or a pull request left open
	}
	errs := p.followAll(ctx, follows, wait)
	if len(errs) == 0 {
		return nil
	}
	var unhealthy *UnhealthyError
	if errors.As(errors.Join(errs...), &unhealthy) && p.o.RollbackOnFailure {
		rctx, cancel := context.WithTimeout(parent, p.o.Timeout)
		defer cancel()
		p.undoWave(rctx, wi, groups)
	}
	return firstOf(errs)
}

// deliver lands one group through the channel and the strategy, and records it in
// the targets' results.
func (p *pipeline) deliver(ctx context.Context, g *group, wait bool) error {
	lead := g.lead()
	l, err := p.channel.Landing(ctx, g)
	if err != nil {
		return err
	}
	g.landing = l
	switch {
	case l.base != "":
		p.say(g.wave, lead.progress.Doing, "committing to a review branch from %s", g.branch)
	case p.fleet:
		p.o.Progress.Doing("wave %d: %s for %s", g.wave+1, deliveryLine(lead.strategy, g.branch), targetNames(g.targets))
	default:
		lead.progress.Doing("%s", deliveryLine(lead.strategy, g.branch))
	}
	prov := p.prov
	prov.To = g.to()
	d, err := lead.strategy.Deliver(ctx, g, prov)
	g.d = d
	if d != nil {
		for _, t := range g.targets {
			if pl := d.planFor(t.w); pl != nil {
				fillPlan(t.res, pl)
			}
		}
	}
	if err != nil {
		return pushError(err, g)
	}
	if !d.Push.NoOp {
		p.ours[d.Push.Commit] = d.Push.Parent
	}
	p.observe(ctx, g, "")
	commit, err := p.channel.Landed(ctx, p, g, wait)
	g.commit = commit
	return err
}

// pushError maps what a failed delivery returns to the errors the exit codes are
// made of: a push whose outcome is unknown is unannounced (a re-run finishes it); a
// push the server refused says what to do about a protected branch.
func pushError(err error, g *group) error {
	if c, uerr := unannounced(err, g.lead().w.Target); c != nil {
		for _, t := range g.targets {
			t.res.Commit = c.DeepCopy()
		}
		return uerr
	}
	return protectedBranch(err, g.landing.branch)
}

// unannounced is, for a push whose outcome is unknown (it may have landed), the
// commit it pushed and the *UnannouncedError that says how to finish it; nil for
// any other error.
func unannounced(err error, env *flux.Environment) (*v1alpha1.Commit, error) {
	var unknown *repo.PushUnknownError
	if !errors.As(err, &unknown) {
		return nil, err
	}
	return &v1alpha1.Commit{SHA: unknown.Commit, Branch: unknown.Branch, Revision: unknown.Branch + "@sha1:" + unknown.Commit},
		&UnannouncedError{Commit: unknown.Commit, Env: env, Err: err}
}

// record sets the targets' results to the pushed delivery and says it.
func (p *pipeline) record(g *group) {
	d := g.d
	for _, t := range g.targets {
		t.res.Commit = commitOf(d.Push, d.Spec)
		t.res.Outcome = OutcomePromoted
		line := t.strategy.Record(t.res, t.w, d)
		if !p.fleet {
			t.progress.Done("%s", line)
		}
	}
	if p.fleet {
		p.o.Progress.Done("wave %d: pushed %s to branch %s (%s)", g.wave+1, repo.ShortSHA(d.Push.Commit), d.Push.Branch, d.Spec.Message)
	}
}

// nothingPushed says the branch already had the group's change.
func (p *pipeline) nothingPushed(g *group) {
	for _, t := range g.targets {
		t.res.Outcome = OutcomeNothingToDo
	}
	if p.fleet {
		p.o.Progress.Done("wave %d: branch %s already has these versions", g.wave+1, g.branch)
		return
	}
	g.lead().progress.Done("%s", unchangedLine(g.lead().strategy, g.branch))
}

// follow is one target to announce and follow, and the commit Flux is to apply.
type follow struct {
	t      *target
	commit string
	d      *Delivery
}

// follows are the wave's targets whose commit is to be announced: delivered and
// landed, or pushed by an earlier run and never announced.
func (p *pipeline) follows(groups []*group, wi int) []follow {
	var out []follow
	for _, g := range groups {
		if g.commit == "" {
			continue
		}
		for _, t := range g.targets {
			out = append(out, follow{t: t, commit: g.commit, d: g.d})
		}
	}
	for _, t := range p.waves[wi] {
		if t.change.empty() && t.pending != "" {
			t.res.Outcome = OutcomeResumed
			t.res.Commit = &v1alpha1.Commit{SHA: t.pending, Branch: t.change.Branch, Revision: t.change.Branch + "@sha1:" + t.pending}
			out = append(out, follow{t: t, commit: t.pending})
		}
	}
	return out
}

// followAll announces and follows every target of the wave in parallel, with one
// reconcile request per GitRepository when the wave has several targets.
func (p *pipeline) followAll(ctx context.Context, follows []follow, wait bool) []error {
	token, sourceDone := "", map[string]bool{}
	if len(follows) > 1 {
		envs := make([]*flux.Environment, len(follows))
		for i, f := range follows {
			envs[i] = f.t.w.Target
		}
		token, sourceDone = reconcile.AnnounceSources(ctx, envs)
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, f := range follows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := f.t
			fo := t.followOptions(f.d, wait)
			fo.token, fo.sourceDone = token, sourceDone[reconcile.SourceKey(t.w.Target)]
			applies := f.commit
			if f.d != nil && f.d.applies != "" {
				applies = f.d.applies
			}
			out, err := followUp(ctx, t.w, applies, fo)
			t.res.Reconcile = out
			p.finished(ctx, t, f.commit, err)
			if err == nil {
				if p.fleet && wait {
					t.progress.Done("Ready on %s", out.AppliedRevision)
				}
				return
			}
			t.res.Outcome, t.res.Error = outcomeOf(err), err.Error()
			var unhealthy *UnhealthyError
			if p.fleet || errors.As(err, &unhealthy) {
				t.progress.Failed("%v", err)
			}
			mu.Lock()
			errs = append(errs, p.named(t, err))
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}

// followOptions is how far followUp goes for the target: its strategy's test of a
// later commit still carrying the change, a pinned tag's manifest step, and the
// verifiers.
func (t *target) followOptions(d *Delivery, wait bool) followOptions {
	fo := followOptions{wait: wait, progress: t.progress, verifiers: t.o.Verifiers}
	if d == nil {
		return fo
	}
	if c, ok := t.strategy.(carrier); ok {
		fo.carries = func(ctx context.Context, sha string) (bool, error) { return c.Carries(ctx, t.w, d, sha) }
	}
	if d.pin != nil {
		fo.via = &via{env: d.pin.Via, commit: d.PinCommit}
	}
	return fo
}

// firstOf is the first error, with the others' targets named: the exit code is the
// first failure's.
func firstOf(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("%w (and %d other target(s) failed)", errs[0], len(errs)-1)
}

// undoWave undoes the failed wave's deliveries, each through its strategy's Undo
// and the channel it came by, and follows every target back to Ready. Earlier waves
// stay promoted.
func (p *pipeline) undoWave(ctx context.Context, wi int, groups []*group) {
	pr := p.o.Progress
	if p.fleet {
		if wi > 0 {
			pr.Failed("rolling back wave %d; %s promoted", wi+1, wavesRange(1, wi, "stays", "stay"))
		} else {
			pr.Failed("rolling back wave 1")
		}
	}
	out := &v1alpha1.AutoRollback{}
	for _, g := range groups {
		if g.commit == "" {
			continue
		}
		rb := p.undoGroup(ctx, g)
		out.Commit, out.PullRequest = rb.Commit, rb.PullRequest
		if rb.Error != "" && out.Error == "" {
			out.Error = rb.Error
		}
	}
	p.rollbacks = append(p.rollbacks, waveRollback{wave: wi, out: out})
	if p.fleet && out.Error == "" && wi > 0 {
		pr.Done("wave %d rolled back; %s promoted", wi+1, wavesRange(1, wi, "stays", "stay"))
	}
}

// undoGroup reverts what the group's delivery landed, by the strategy's Undo
// through the channel, and with a push follows every target back to Ready.
func (p *pipeline) undoGroup(ctx context.Context, g *group) *v1alpha1.AutoRollback {
	lead := g.lead()
	why := "the target failed health"
	if p.fleet {
		why = fmt.Sprintf("wave %d failed health", g.wave+1)
	}
	u := undo{entries: []v1alpha1.HistoryEntry{{Commit: g.commit}}, to: g.to(), names: targetNames(g.targets), why: why, by: p.prov.By, author: p.prov.Author,
		reason: "--rollback-on-failure: the promoted revision failed health", attempts: p.o.PushAttempts, progress: lead.progress}
	if g.landing.base != "" {
		u.entries[0].Subject = g.landing.title
	} else if p.o.FFOnly {
		// A fast-forward made no commit of its own: revert the range it moved over.
		u.entries[0].Base = g.d.Push.Parent
	}
	u.branch = g.branch
	rb := &v1alpha1.AutoRollback{}
	for _, t := range g.targets {
		gates, err := rollbackAllowed(t.w.Target, p.o.Force, t.progress)
		if err != nil {
			rb.Error = "not rolled back: " + err.Error()
			lead.progress.Failed("%s", rb.Error)
			p.setRollback(g, rb)
			return rb
		}
		u.gates = cmp.Or(u.gates, gates)
	}
	lead.progress.Doing("%s", undoLine(lead.strategy, g.commit, g.branch))
	res, err := lead.strategy.Undo(ctx, lead.w, p.channel, &u)
	if res != nil {
		rb.Commit, rb.PullRequest = res.commit, res.pr
	}
	if err != nil {
		rb.Error = err.Error()
		lead.progress.Failed("rollback failed: %v", err)
		p.setRollback(g, rb)
		return rb
	}
	if res.follow == "" { // a pull request (merging it rolls back), or nothing to revert
		p.setRollback(g, rb)
		return rb
	}
	if res.commit != nil {
		p.rolledBack(ctx, g, res.commit.SHA) // commit statuses: a registry write has no commit
	}
	p.followBack(ctx, g, res, rb)
	return rb
}

// followBack follows every target of g to Ready on what the undo landed (through
// the manifest's Kustomization first for a pin).
func (p *pipeline) followBack(ctx context.Context, g *group, res *undone, rb *v1alpha1.AutoRollback) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, t := range g.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tb := &v1alpha1.AutoRollback{Commit: rb.Commit.DeepCopy()}
			out, err := followUp(ctx, t.w, res.follow, followOptions{wait: true, progress: t.progress, verifiers: t.o.Verifiers, via: res.via})
			tb.Reconcile = out
			if err != nil {
				tb.Error = err.Error()
				t.progress.Failed("rollback pushed but the target did not become Ready: %v", err)
				mu.Lock()
				if rb.Error == "" {
					rb.Error = t.spec.Raw + ": " + err.Error()
				}
				mu.Unlock()
			} else if p.fleet {
				t.progress.Done("rolled back: Ready on %s", out.AppliedRevision)
			} else {
				t.progress.Done("rolled back: %s is Ready on %s", t.w.Target.Name, out.AppliedRevision)
			}
			t.res.Rollback = tb
		}()
	}
	wg.Wait()
	if !p.fleet {
		g.lead().res.Rollback.Error = rb.Error
	}
}

func (p *pipeline) setRollback(g *group, rb *v1alpha1.AutoRollback) {
	for _, t := range g.targets {
		t.res.Rollback = rb.DeepCopy()
	}
}

// observe tells the observers a group's commit was pushed (pending).
func (p *pipeline) observe(ctx context.Context, g *group, _ string) {
	if len(p.o.Observers) == 0 || g.d == nil || g.d.Push == nil || g.d.Push.NoOp || g.lead().w.Repo == nil {
		return
	}
	for _, t := range g.targets {
		e := Event{Target: t.w.Target, Repo: t.w.Repo.URL(), Commit: g.d.Push.Commit, Branch: g.d.Push.Branch}
		for _, o := range p.o.Observers {
			o.Pushed(ctx, e)
		}
	}
}

// finished tells the observers how a target's follow ended.
func (p *pipeline) finished(ctx context.Context, t *target, commit string, err error) {
	if len(p.o.Observers) == 0 || t.w.Repo == nil {
		return
	}
	e := Event{Target: t.w.Target, Repo: t.w.Repo.URL(), Commit: commit, Outcome: t.res.Outcome, Err: err}
	if err != nil {
		e.Outcome = outcomeOf(err)
	}
	for _, o := range p.o.Observers {
		o.Finished(ctx, e)
	}
}

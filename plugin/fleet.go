package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// isFleet says whether --to names a fleet: given more than once, a comma list, or a
// glob of contexts. A single plain --to is the single promotion, unchanged.
func (o *PromoteOptions) isFleet() bool {
	return len(o.ToList) > 1 || (len(o.ToList) == 1 && strings.ContainsAny(o.ToList[0], ",*?["))
}

// completeFleet expands the waves against the kubeconfig's contexts and parses them.
func (o *PromoteOptions) completeFleet() error {
	if o.From == "" {
		return fmt.Errorf(`--from is required, e.g. "kubectl promote apps --from staging --to prod-eu --to 'prod-us-*'"`)
	}
	refs, err := newRefParser(o.config)
	if err != nil {
		return err
	}
	o.clients = refs.clients
	from, err := refs.parse(o.From, o.Kustomization)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	contexts, err := refs.clients.Contexts()
	if err != nil {
		return err
	}
	expanded, err := expandWaves(o.ToList, contexts)
	if err != nil {
		return err
	}
	w := &promote.WaveOptions{Given: o.ToList, WaveSoak: o.WaveSoak, Options: promote.Options{
		From:    from,
		Filter:  plan.Filter{Apps: o.Apps, Images: o.Images},
		RepoDir: o.RepoDir, Auth: o.auth(), Strategy: o.Strategy, FFOnly: o.FFOnly, Tag: o.Tag,
		MinSoak: o.MinSoak, Force: o.Force, DryRun: o.DryRun, Wait: o.Wait, Timeout: o.Timeout,
		RollbackOnFailure: o.RollbackOnFailure, PushAttempts: promote.DefaultPushAttempts,
		Review: o.reviewOptions(), Registry: o.registryOptions(),
	}}
	for _, wave := range expanded {
		var specs []flux.RefSpec
		for _, env := range wave {
			spec, err := refs.parse(env, o.Kustomization)
			if err != nil {
				return fmt.Errorf("--to %s: %w", env, err)
			}
			specs = append(specs, spec)
		}
		w.Waves = append(w.Waves, specs)
	}
	if w.Author, err = o.author(); err != nil {
		return err
	}
	if w.SignKey, err = o.signingKey(); err != nil {
		return err
	}
	o.fleet = w
	return o.completePrinter()
}

// validateFleet rejects a --wave-soak that has no next wave. What a strategy does
// not do in a fleet, each target's strategy refuses once its layout is read.
func (o *PromoteOptions) validateFleet() error {
	if o.WaveSoak < 0 {
		return fmt.Errorf("--wave-soak must not be negative")
	}
	if o.fleet == nil && o.WaveSoak > 0 {
		return fmt.Errorf("--wave-soak is for several waves (--to given more than once); with one target there is no next wave")
	}
	return nil
}

// runFleet performs the fleet promotion: progress on stderr, each target's lines
// prefixed by its context; the plan, then a summary table (or one document) on stdout.
func (o *PromoteOptions) runFleet(ctx context.Context, pr, out *printer) error {
	w := o.fleet
	var mu sync.Mutex
	w.Progress = &prefixed{p: pr, mu: &mu}
	w.ProgressFor = func(target string) promote.Progress { return &prefixed{p: pr, mu: &mu, prefix: "[" + target + "] "} }
	if !o.machine() {
		w.Preview = func(r *v1alpha1.FleetPromotion) { fleetPlan(out, r) }
	}
	if !o.Yes && !o.DryRun {
		w.Confirm = func(r *v1alpha1.FleetPromotion) (bool, error) {
			n := 0
			for _, wave := range r.Waves {
				n += len(wave.Targets)
			}
			return askYesNo(o.IOStreams, fmt.Sprintf("Promote %d target(s) in %d wave(s)?", n, len(r.Waves)))
		}
	}
	res, err := promote.RunWaves(ctx, o.clients, *w)
	for _, wave := range res.Waves {
		for i := range wave.Targets {
			o.record(&wave.Targets[i])
		}
	}
	if o.machine() {
		if perr := o.printObject(res, o.Out); perr != nil && err == nil {
			err = perr
		}
		return err
	}
	if werr := fleetSummary(o.Out, res); werr != nil && err == nil {
		err = werr
	}
	return err
}

// prefixed is a Progress whose lines start with the target's context, safe to use
// from the goroutines that follow a wave's targets.
type prefixed struct {
	p      *printer
	mu     *sync.Mutex
	prefix string
}

func (x *prefixed) log(f func(string, ...any), format string, args ...any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f(x.prefix+format, args...)
}
func (x *prefixed) Doing(format string, args ...any)   { x.log(x.p.Doing, format, args...) }
func (x *prefixed) Done(format string, args ...any)    { x.log(x.p.Done, format, args...) }
func (x *prefixed) Waiting(format string, args ...any) { x.log(x.p.Waiting, format, args...) }
func (x *prefixed) Failed(format string, args ...any)  { x.log(x.p.Failed, format, args...) }

// fleetPlan prints the plan of the whole fleet: the waves (with what each glob
// expanded to), and per target its strategy, overlay, image changes and gates.
func fleetPlan(p *printer, r *v1alpha1.FleetPromotion) {
	fmt.Fprintf(p.w, "Fleet promotion from %s (%s), %d wave(s):\n", r.Source.Name, dash(r.Source.Revision), len(r.Waves))
	for _, w := range r.Waves {
		var names []string
		for _, t := range w.Targets {
			names = append(names, t.Name)
		}
		fmt.Fprintf(p.w, "wave %d (--to %s): %s\n", w.Number, w.Given, strings.Join(names, ", "))
		for _, t := range w.Targets {
			fmt.Fprintf(p.w, "  %s: strategy %s, overlay %s on branch %s\n", t.Name, dash(t.Strategy), dash(t.Target.Path), dash(t.Target.Branch))
			if len(t.Changes) == 0 {
				fmt.Fprintf(p.w, "    no image changes\n")
			}
			for _, c := range t.Changes {
				fmt.Fprintf(p.w, "    %s %s → %s\n", c.Image, c.From, c.To)
			}
		}
	}
	fmt.Fprintln(p.w, "Gates:")
	for _, g := range r.Gates {
		mark := p.paint(green, "✔")
		if !g.Passed {
			mark = p.paint(red, "✗")
		}
		fmt.Fprintf(p.w, "  %s %s %s: %s\n", mark, g.Environment, g.Name, g.Message)
	}
}

// fleetSummary is the table at the end: target, wave, commit, outcome, seconds.
func fleetSummary(w io.Writer, r *v1alpha1.FleetPromotion) error {
	if r == nil || len(r.Waves) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tWAVE\tCOMMIT\tOUTCOME\tSECONDS")
	for _, wave := range r.Waves {
		for _, t := range wave.Targets {
			commit, secs, outcome := "-", "-", t.Outcome
			if t.Commit != nil {
				commit = repo.ShortSHA(t.Commit.SHA)
			}
			if t.Reconcile != nil {
				secs = fmt.Sprintf("%.1f", t.Reconcile.Seconds)
			}
			if t.Rollback != nil && t.Rollback.Commit != nil {
				outcome += ", rolled back by " + repo.ShortSHA(t.Rollback.Commit.SHA)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", t.Name, wave.Number, commit, outcome, secs)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, wave := range r.Waves {
		if wave.Rollback != nil && wave.Rollback.Error == "" && wave.Number > 1 {
			fmt.Fprintf(w, "wave %d was rolled back; waves 1 to %d stay promoted\n", wave.Number, wave.Number-1)
		}
	}
	return nil
}

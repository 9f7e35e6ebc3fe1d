package promote

// Fleet promotion: one source, several targets in waves (--to given more than once,
// comma lists, context globs). It runs the same pipeline as one target; what is a
// fleet's own is here: expanding --to into waves, the checks of how targets are
// spread over waves, a wave's re-plan that keeps this run's own commits, and the
// FleetPromotion document.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
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

// checkWaves refuses targets that read the same path of the same branch in
// different waves (one commit promotes them both, so they cannot be apart), and
// what the channel refuses of a wave (refusals.go).
func (p *pipeline) checkWaves() error {
	first := map[string]*target{}
	for wi, ts := range p.waves {
		for _, t := range ts {
			key := t.w.TargetRef.Branch + "\x00" + cleanPath(t.w.Target.Kustomization.Spec.Path)
			if q, ok := first[key]; ok && q.wave != wi {
				return fmt.Errorf("%s (wave %d) and %s (wave %d) both read path %s of branch %s, so one commit promotes both: put them in the same wave",
					q.spec.Raw, q.wave+1, t.spec.Raw, wi+1, t.w.Target.Kustomization.Spec.Path, t.w.TargetRef.Branch)
			} else if !ok {
				first[key] = t
			}
		}
		if err := refuseWave(p.o.Review != nil, wi, ts); err != nil {
			return err
		}
	}
	return nil
}

func cleanPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p, "./")), "/")
}

// replan writes, in dir (the landing branch's head), the edit of every distinct
// overlay the group's targets read, and returns their changes without repeats;
// d.Plans gets each overlay's plan.
func (g *group) replan(ctx context.Context, head, dir string, d *Delivery) ([]plan.Change, error) {
	d.Plans = map[string]*plan.Plan{}
	var changes []plan.Change
	seen := map[string]bool{}
	for _, t := range g.targets {
		key := cleanPath(t.w.Target.Kustomization.Spec.Path)
		if _, ok := d.Plans[key]; ok {
			continue
		}
		pl, err := g.replanTarget(ctx, t, head, dir)
		if err != nil {
			if len(g.targets) > 1 {
				err = fmt.Errorf("target %s: %w", t.spec.Raw, err)
			}
			return nil, err
		}
		d.Plans[key] = pl
		for _, ch := range pl.Changes {
			id := ch.Repository + "\x00" + ch.From.String() + "\x00" + ch.To.String()
			if !seen[id] {
				seen[id] = true
				changes = append(changes, ch)
			}
		}
	}
	return changes, nil
}

// replanTarget is t's plan on head, written into dir. When head is the commit t was
// planned on, or that commit with only this run's own commits on top, and the
// planned files are still as they were, the plan's edit is written as it was made;
// otherwise (someone else pushed) it is computed again on head.
func (g *group) replanTarget(ctx context.Context, t *target, head, dir string) (*plan.Plan, error) {
	for at := head; at != t.change.Head; {
		parent, ours := g.ours[at]
		if !ours {
			return plan.Compute(ctx, t.w.planInput(dir))
		}
		at = parent
	}
	pl := t.change.Plan
	for _, file := range pl.Files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file.Path)))
		if err != nil || !bytes.Equal(got, file.Before) {
			return plan.Compute(ctx, t.w.planInput(dir))
		}
	}
	for _, file := range pl.Files {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(file.Path)), file.After, 0o644); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// planFor is the plan as committed for w's overlay.
func (d *Delivery) planFor(w *Workspace) *plan.Plan {
	if pl, ok := d.Plans[cleanPath(w.Target.Kustomization.Spec.Path)]; ok {
		return pl
	}
	return d.Plan
}

// document is the FleetPromotion as it stands.
func (p *pipeline) document() *v1alpha1.FleetPromotion {
	p.res.Waves = []v1alpha1.Wave{}
	for wi, ts := range p.waves {
		w := v1alpha1.Wave{Number: wi + 1, Targets: []v1alpha1.Promotion{}}
		if wi < len(p.o.Given) {
			w.Given = p.o.Given[wi]
		}
		shas := map[string]bool{}
		outcome := ""
		for _, t := range ts {
			w.Targets = append(w.Targets, *t.res)
			if t.res.Commit != nil && !shas[t.res.Commit.SHA] {
				shas[t.res.Commit.SHA] = true
				c := *t.res.Commit.DeepCopy()
				c.Trailers = append([]v1alpha1.Trailer(nil), c.Trailers...)
				w.Commits = append(w.Commits, c)
			}
			outcome = waveOutcome(outcome, t.res.Outcome)
		}
		w.Outcome = outcome
		for _, r := range p.rollbacks {
			if r.wave == wi {
				w.Rollback = r.out
			}
		}
		p.res.Waves = append(p.res.Waves, w)
	}
	return p.res
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

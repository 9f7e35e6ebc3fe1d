package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// Gate names of the policy's gates.
const (
	GateWindow   = "window"
	GateReview   = "review"
	GateUpstream = "upstream"
)

// Of reads the policy of a Kustomization; a malformed annotation is an error naming
// it and the Kustomization.
func Of(ks *kustomizev1.Kustomization) (*Policy, error) {
	p, err := Parse(ks.GetAnnotations())
	if err != nil {
		return nil, fmt.Errorf("Kustomization %s/%s: %w: fix it in Git (the policy is read from the annotations Flux applies)", ks.Namespace, ks.Name, err)
	}
	return p, nil
}

// Request is what a promotion asks of the target's policy.
type Request struct {
	// Now is the time the windows are judged at.
	Now time.Time
	// Rollback: only deny windows "including rollbacks" close.
	Rollback bool
	// Source are the names the source environment goes by (as given, its context,
	// context/namespace/name); empty for a rollback.
	Source []string
	// Review is whether the change goes through a pull request (--review).
	Review bool
}

// Gates are the policy's gates for the environment env, in a fixed order: window
// (with windows or a freeze), review (when required) and upstream (when the policy
// names upstreams and a source is promoted from).
func (p *Policy) Gates(env string, r Request) v1alpha1.Gates {
	var set v1alpha1.Gates
	if p.HasWindows() {
		s := p.At(r.Now, r.Rollback)
		g := v1alpha1.Gate{Name: GateWindow, Environment: env, Passed: s.Open, Message: s.Reason}
		if !s.Open {
			g.Message = "closed: " + s.Reason
			if !s.NextChange.IsZero() {
				g.Message += "; the next window opens " + Format(s.NextChange, p.zone())
			}
		}
		set = append(set, g)
	}
	if p.RequireReview {
		g := v1alpha1.Gate{Name: GateReview, Environment: env, Passed: r.Review, Message: "through a pull request (--review)"}
		if !r.Review {
			g.Message = env + " requires review (" + AnnotationRequireReview + "): run the same command with --review to open a pull request"
		}
		set = append(set, g)
	}
	if len(p.Upstreams) > 0 && len(r.Source) > 0 {
		g := v1alpha1.Gate{Name: GateUpstream, Environment: env, Message: fmt.Sprintf("%s accepts promotions only from %s, not from %s",
			env, strings.Join(p.Upstreams, ", "), r.Source[0])}
		for _, s := range r.Source {
			if slices.Contains(p.Upstreams, s) {
				g.Passed, g.Message = true, "from "+s+", an allowed upstream"
				break
			}
		}
		set = append(set, g)
	}
	return set
}

// zone is the time zone of the policy's first window (or its freeze), for messages.
func (p *Policy) zone() *time.Location {
	for _, ws := range [][]*Window{p.Allow, p.Deny} {
		if len(ws) > 0 {
			return ws[0].Location
		}
	}
	if !p.FreezeUntil.IsZero() {
		return p.FreezeUntil.Location()
	}
	return time.UTC
}

// Describe is the policy as status shows it, with the windows' state at now.
func (p *Policy) Describe(now time.Time) *v1alpha1.EnvironmentPolicy {
	d := &v1alpha1.EnvironmentPolicy{RequireReview: p.RequireReview, Upstreams: p.Upstreams,
		RequireSigning: p.RequireSigning, Verify: p.Checks}
	for _, w := range p.Allow {
		d.Allow = append(d.Allow, w.Text)
	}
	for _, w := range p.Deny {
		d.Deny = append(d.Deny, w.Text)
	}
	if !p.FreezeUntil.IsZero() {
		d.FreezeUntil = p.FreezeUntil.UTC().Format(time.RFC3339)
	}
	if p.MinSoak > 0 {
		d.MinSoak = p.MinSoak.String()
	}
	if p.HasWindows() {
		s := p.At(now, false)
		d.Window = &v1alpha1.WindowState{Open: s.Open, Reason: s.Reason}
		if !s.NextChange.IsZero() {
			d.Window.NextChange = s.NextChange.Format(time.RFC3339)
		}
	}
	return d
}

// RollbackWindow is the window gate of the target (ks, named target) for a
// rollback, at now: nil when its policy has no windows. A rollback is allowed by
// default; only a deny window "including rollbacks" closes it. A malformed policy
// is an error naming it. `kubectl promote rollback` and --rollback-on-failure both
// ask it before reverting.
func RollbackWindow(ks *kustomizev1.Kustomization, target string, now time.Time) (*v1alpha1.Gate, error) {
	p, err := Of(ks)
	if err != nil {
		return nil, err
	}
	for _, g := range p.Gates(target, Request{Now: now, Rollback: true}) {
		if g.Name == GateWindow {
			return &g, nil
		}
	}
	return nil, nil
}

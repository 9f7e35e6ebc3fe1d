package promote

import (
	"context"
	"fmt"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/gates"
	"github.com/kubectl-promote/kubectl-promote/pkg/policy"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// PolicyGate is the target's policy (pkg/policy) as a Gate: its windows, required
// review and allowed upstreams are gates, its min-soak the source-soak gate when
// --min-soak is not given; a malformed policy, or one that requires signing when
// nothing is signed, refuses the target outright.
type PolicyGate struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (g PolicyGate) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

// Refuse refuses a malformed policy, and a target that requires signing without
// --sign-key.
func (g PolicyGate) Refuse(_ context.Context, in GateInput) error {
	p, err := policy.Of(in.Target.Kustomization)
	if err != nil {
		return err
	}
	if p.RequireSigning && !in.Signed {
		return fmt.Errorf("%s requires signed promotions (%s on Kustomization %s/%s): %s", in.Target.Name,
			policy.AnnotationRequireSigning, in.Target.Ref.Namespace, in.Target.Ref.Name, SignKeyHint)
	}
	return nil
}

// Check is the policy's gates for the target.
func (g PolicyGate) Check(_ context.Context, in GateInput) v1alpha1.Gates {
	p, err := policy.Of(in.Target.Kustomization)
	if err != nil {
		return nil // Refuse said so
	}
	now := g.now()
	set := p.Gates(in.Target.Name, policy.Request{Now: now, Review: in.Review,
		Source: []string{in.Source.Name, in.Source.Ref.Context, in.Source.Ref.String()}})
	if p.MinSoak > 0 && in.MinSoak == 0 {
		set = append(set, gates.Soak(in.Source, p.MinSoak, now, in.Target.Name+"'s "+policy.AnnotationMinSoak))
	}
	return set
}

// StatusObserver is an Observer posting commit statuses kubectl-promote/TARGET on the
// Git host (review.Statuses says what each state means): pending when pushed,
// success or failure (with the reason) when the follow ends. Failing to post is a
// warning; it keeps each target's last status (Status).
type StatusObserver struct {
	review.Statuses
	// Wait is whether the follow waits for Ready (without it, only pending is posted).
	Wait bool
}

// Pushed posts pending.
func (s *StatusObserver) Pushed(ctx context.Context, e Event) {
	s.Pending(ctx, e.Target.Name, e.Repo, e.Commit)
}

// Finished posts success or failure.
func (s *StatusObserver) Finished(ctx context.Context, e Event) {
	if e.Commit == "" || (!s.Wait && e.Err == nil) {
		return
	}
	switch {
	case e.Err == nil:
		s.Succeeded(ctx, e.Target.Name, e.Repo, e.Commit)
	case e.Outcome == OutcomeSuperseded:
		s.Superseded(ctx, e.Target.Name, e.Repo, e.Commit, e.Err.Error())
	default:
		s.Failed(ctx, e.Target.Name, e.Repo, e.Commit, e.Outcome, reconcile.FailureReason(e.Err))
	}
}

// RolledBack posts failure again on a promoted commit --rollback-on-failure
// reverted, naming the revert and keeping the reason.
func (s *StatusObserver) RolledBack(ctx context.Context, e Event, revert string) {
	s.Reverted(ctx, e.Target.Name, e.Repo, e.Commit, revert)
}

// RollbackObserver is an Observer also told when --rollback-on-failure reverted a
// target's promotion: Event is the promotion's, revert the revert's commit.
type RollbackObserver interface {
	RolledBack(ctx context.Context, e Event, revert string)
}

// rolledBack tells the observers that can hear it (StatusObserver) that the group's
// promotion was reverted by revert.
func (p *pipeline) rolledBack(ctx context.Context, g *group, revert string) {
	for _, t := range g.targets {
		e := Event{Target: t.w.Target, Repo: t.w.Repo.URL(), Commit: g.commit, Outcome: OutcomeUnhealthy}
		for _, o := range p.o.Observers {
			if rb, ok := o.(RollbackObserver); ok {
				rb.RolledBack(ctx, e, revert)
			}
		}
	}
}

// rollbackAllowed refuses a rollback of env that a deny window "including
// rollbacks" closes now (exit code 3, nothing written), unless force; it returns
// the Promote-Gates trailer to record on the revert ("" when nothing was forced).
// `kubectl promote rollback` and --rollback-on-failure both run it.
func rollbackAllowed(env *flux.Environment, force bool, progress Progress) (string, error) {
	g, err := policy.RollbackWindow(env.Kustomization, env.Name, time.Now())
	if err != nil || g == nil || g.Passed {
		return "", err
	}
	if !force {
		return "", &rollbackClosedError{env: env.Name, message: g.Message}
	}
	progress.Failed("%s: rollbacks to %s are %s: rolling back anyway because of --force", policy.GateWindow, env.Name, g.Message)
	return "forced (failed: " + policy.GateWindow + ")", nil
}

// rollbackClosedError is a rollback refused by a deny window that names rollbacks:
// blocked (exit code 3).
type rollbackClosedError struct{ env, message string }

func (e *rollbackClosedError) Error() string {
	return fmt.Sprintf("%s: rollbacks to %s are %s; nothing was pushed (wait, change the policy in Git, or use --force: the revert records it)",
		policy.GateWindow, e.env, e.message)
}

func (e *rollbackClosedError) Unwrap() error {
	return &BlockedError{Failed: []string{policy.GateWindow}}
}

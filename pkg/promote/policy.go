package promote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/gates"
	"github.com/kubectl-promote/kubectl-promote/pkg/policy"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
	checks "github.com/kubectl-promote/kubectl-promote/pkg/verify"
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

// CheckVerifier is a Verifier running the checks given on the command line and those
// of the target's policy once the target is Ready, and keeping each target's results.
type CheckVerifier struct {
	Checks   checks.Checks
	Options  checks.Options
	mu       sync.Mutex
	results  map[string][]v1alpha1.CheckResult
	Progress Progress
}

// Verify runs the checks; a failed one is failed health.
func (v *CheckVerifier) Verify(ctx context.Context, target *flux.Environment, revision string) error {
	cs := v.Checks
	p, err := policy.Of(target.Kustomization)
	if err != nil {
		return err
	}
	for _, c := range p.Checks {
		h, err := checks.FromSpec(c, checks.FromPolicy)
		if err != nil {
			return err
		}
		cs.HTTP = append(cs.HTTP, h)
	}
	if cs.Empty() {
		return nil
	}
	sha, _ := flux.CommitSHA(revision)
	env := checks.Env{Target: target.Name, Context: target.Ref.Context, Namespace: target.Ref.Namespace, Kustomization: target.Ref.Name,
		Revision: revision, Commit: sha, Images: images(ctx, target)}
	o := v.Options
	if o.Progress == nil && v.Progress != nil {
		o.Progress = v.Progress
	}
	res, err := checks.Run(ctx, cs, env, o)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.results == nil {
		v.results = map[string][]v1alpha1.CheckResult{}
	}
	v.results[target.Name] = res
	return err
}

// Results are the checks run for the target (by name), if any.
func (v *CheckVerifier) Results(target string) []v1alpha1.CheckResult {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.results[target]
}

// images are the container images of the workloads the target applied (its
// inventory), for a command check.
func images(ctx context.Context, env *flux.Environment) []string {
	inv := env.Kustomization.Status.Inventory
	cur := env.Kustomization.DeepCopy()
	if err := env.Cluster.Client.Get(ctx, client.ObjectKeyFromObject(cur), cur); err == nil {
		inv = cur.Status.Inventory
	}
	if inv == nil {
		return nil
	}
	var out []string
	for _, e := range inv.Entries {
		o, err := object.ParseObjMetadata(e.ID)
		if err != nil || o.GroupKind.Group != "apps" || (o.GroupKind.Kind != "Deployment" && o.GroupKind.Kind != "StatefulSet" && o.GroupKind.Kind != "DaemonSet") {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apps/" + e.Version)
		u.SetKind(o.GroupKind.Kind)
		if err := env.Cluster.Client.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, u); err != nil {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			if m, ok := c.(map[string]any); ok {
				if img, ok := m["image"].(string); ok {
					out = append(out, img)
				}
			}
		}
	}
	return out
}

// StatusObserver is an Observer posting commit statuses kubectl-promote/TARGET on the
// Git host: pending when pushed, success or failure (with the reason) when the follow
// ends. Failing to post is a warning; it keeps each target's last status.
type StatusObserver struct {
	// Host is the Git host's statuses for a repository URL; nil (no token) skips
	// quietly, an error with a warning.
	Host func(repoURL string) (review.CommitStatuses, error)
	Warn func(format string, args ...any)
	// Wait is whether the follow waits for Ready (without it, only pending is posted).
	Wait bool

	mu        sync.Mutex
	reporters map[string]*review.StatusReporter
}

func (s *StatusObserver) reporter(e Event) *review.StatusReporter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.reporters[e.Target.Name]; r != nil && r.Out.SHA == e.Commit {
		return r
	}
	host, err := s.Host(e.Repo)
	if host == nil && err == nil {
		return nil // no Git host token: no statuses
	}
	if err != nil {
		s.Warn("no commit status for %s: %v", e.Target.Name, err)
		return nil
	}
	if s.reporters == nil {
		s.reporters = map[string]*review.StatusReporter{}
	}
	r := review.NewStatusReporter(host, e.Target.Name, e.Commit, s.Warn)
	s.reporters[e.Target.Name] = r
	return r
}

// Pushed posts pending.
func (s *StatusObserver) Pushed(ctx context.Context, e Event) {
	if r := s.reporter(e); r != nil {
		r.Post(ctx, review.StatusPending, "pushed; waiting for Flux to apply it")
	}
}

// Finished posts success or failure.
func (s *StatusObserver) Finished(ctx context.Context, e Event) {
	if e.Commit == "" || (!s.Wait && e.Err == nil) {
		return
	}
	r := s.reporter(e)
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	switch {
	case e.Err == nil:
		r.Post(ctx, review.StatusSuccess, "applied, healthy and verified")
	case e.Outcome == OutcomeSuperseded:
		r.Post(ctx, review.StatusError, e.Err.Error())
	default:
		r.Post(ctx, review.StatusFailure, e.Outcome+": "+failureReason(e.Err))
	}
}

// failureReason is why a follow failed, short enough for a status description (140
// characters on GitHub): what Flux or the verification reported, without the
// commit and revision the status already sits on.
func failureReason(err error) string {
	var failed *reconcile.FailedError
	if errors.As(err, &failed) {
		return failed.Reason + ": " + failed.Message
	}
	return err.Error()
}

// RolledBack posts failure again on a promoted commit --rollback-on-failure
// reverted, naming the revert and keeping the reason.
func (s *StatusObserver) RolledBack(ctx context.Context, e Event, revert string) {
	r := s.reporter(e)
	if r == nil {
		return
	}
	why := r.Out.Description
	if r.Out.State != review.StatusFailure {
		why = "the promoted revision failed health"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	r.Post(ctx, review.StatusFailure, "rolled back by "+repo.ShortSHA(revert)+"; "+why)
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

// Status is the last commit status of the target (by name), if any.
func (s *StatusObserver) Status(target string) *v1alpha1.CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.reporters[target]; r != nil {
		return r.Out
	}
	return nil
}

// RollbackWindow is the target's window gate for a rollback, at now: nil when its
// policy has no windows. A rollback is allowed by default; only a deny window
// "including rollbacks" closes it. A malformed policy is an error naming it.
func RollbackWindow(env *flux.Environment, now time.Time) (*v1alpha1.Gate, error) {
	p, err := policy.Of(env.Kustomization)
	if err != nil {
		return nil, err
	}
	for _, g := range p.Gates(env.Name, policy.Request{Now: now, Rollback: true}) {
		if g.Name == policy.GateWindow {
			return &g, nil
		}
	}
	return nil, nil
}

// rollbackAllowed refuses a rollback of env that a deny window "including
// rollbacks" closes now (exit code 3, nothing written), unless force; it returns
// the Promote-Gates trailer to record on the revert ("" when nothing was forced).
// `kubectl promote rollback` and --rollback-on-failure both run it.
func rollbackAllowed(env *flux.Environment, force bool, progress Progress) (string, error) {
	g, err := RollbackWindow(env, time.Now())
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

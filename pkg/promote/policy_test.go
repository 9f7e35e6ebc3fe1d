package promote

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/policy"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

func policyEnv(name string, ann map[string]string) *flux.Environment {
	ks := &kustomizev1.Kustomization{}
	ks.Name, ks.Namespace, ks.Annotations = "apps", "flux-system", ann
	return &flux.Environment{Name: name, Ref: flux.Ref{Context: name, Namespace: "flux-system", Name: "apps"}, Kustomization: ks}
}

func TestPolicyGate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC) // a Friday, 17:00 in Berlin
	g := PolicyGate{Now: func() time.Time { return now }}
	src := policyEnv("qa", nil)
	src.Kustomization.Status.LastAppliedRevision = "main@sha1:abc"
	src.Kustomization.Status.Conditions = []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: meta.ReconciliationSucceededReason,
		LastTransitionTime: metav1.NewTime(now.Add(-10 * time.Minute))}}
	dst := policyEnv("production", map[string]string{
		policy.AnnotationDeny: "Fri 15:00 to Mon 09:00 Europe/Berlin", policy.AnnotationUpstreams: "staging",
		policy.AnnotationRequireReview: "true", policy.AnnotationMinSoak: "1h"})
	in := GateInput{Source: src, Target: dst}
	require.NoError(t, g.Refuse(ctx, in))
	set := g.Check(ctx, in)
	require.Equal(t, []string{policy.GateWindow, policy.GateReview, policy.GateUpstream, "source-soak"}, set.Failed())
	require.Contains(t, set[3].Message, "Ready on main@sha1:abc for 10m0s, less than production's promote.kubectl-promote.dev/min-soak 1h0m0s")
	// --min-soak given: the flag's gate is the built-in one, the policy's is not added.
	in.MinSoak = time.Minute
	require.Len(t, g.Check(ctx, in), 3)

	dst.Kustomization.Annotations[policy.AnnotationRequireSigning] = "true"
	err := g.Refuse(ctx, in)
	require.ErrorContains(t, err, "production requires signed promotions (promote.kubectl-promote.dev/require-signing on Kustomization flux-system/apps): pass --sign-key")
	in.Signed = true
	require.NoError(t, g.Refuse(ctx, in))

	dst.Kustomization.Annotations[policy.AnnotationAllow] = "weekdays"
	err = g.Refuse(ctx, in)
	require.ErrorContains(t, err, `Kustomization flux-system/apps: annotation promote.kubectl-promote.dev/allow: "weekdays"`)
	require.Empty(t, g.Check(ctx, in))
}

type fakeStatuses struct{ posted []review.Status }

func (f *fakeStatuses) Name() string { return review.Gitea }
func (f *fakeStatuses) SetStatus(_ context.Context, _ string, s review.Status) error {
	f.posted = append(f.posted, s)
	return nil
}

func TestStatusObserver(t *testing.T) {
	ctx := context.Background()
	host := &fakeStatuses{}
	o := &StatusObserver{Wait: true, Statuses: review.Statuses{Warn: func(string, ...any) {}, Host: func(string) (review.CommitStatuses, error) { return host, nil }}}
	e := Event{Target: policyEnv("production", nil), Repo: "http://127.0.0.1/x/y.git", Commit: "abc"}
	o.Pushed(ctx, e)
	e.Outcome, e.Err = OutcomeUnhealthy, &UnhealthyError{Commit: "abc", Err: context.DeadlineExceeded}
	o.Finished(ctx, e)
	require.Len(t, host.posted, 2)
	require.Equal(t, review.StatusPending, host.posted[0].State)
	require.Equal(t, "kubectl-promote/production", host.posted[1].Context)
	require.Equal(t, review.StatusFailure, host.posted[1].State)
	require.Contains(t, host.posted[1].Description, "unhealthy: abc was pushed but the target did not become healthy")
	require.Equal(t, &v1alpha1.CommitStatus{Provider: review.Gitea, Context: "kubectl-promote/production", SHA: "abc", State: review.StatusFailure,
		Description: host.posted[1].Description}, o.Status("production"))

	// A failed verification: its reason, not the revision the status sits on; then
	// --rollback-on-failure reverts it, and the status says so.
	e.Err = &UnhealthyError{Commit: "abc", Err: &reconcile.FailedError{Object: "the verification of main@sha1:" + strings.Repeat("a", 40),
		Reason: "VerificationFailed", Message: "GET http://x: 503"}}
	o.Finished(ctx, e)
	require.Equal(t, "unhealthy: VerificationFailed: GET http://x: 503", host.posted[2].Description)
	o.RolledBack(ctx, Event{Target: e.Target, Repo: e.Repo, Commit: "abc"}, "def4567890abcdef")
	require.Len(t, host.posted, 4)
	require.Equal(t, review.StatusFailure, host.posted[3].State)
	require.Equal(t, "rolled back by def4567890ab; unhealthy: VerificationFailed: GET http://x: 503", host.posted[3].Description)

	// Without a token there is no host: nothing is posted, nothing warned.
	quiet := &StatusObserver{Wait: true, Statuses: review.Statuses{Warn: func(f string, a ...any) { t.Errorf(f, a...) }, Host: func(string) (review.CommitStatuses, error) { return nil, nil }}}
	quiet.Pushed(ctx, e)
	require.Nil(t, quiet.Status("production"))
}

// failures records Progress.Failed lines.
type failures struct {
	nopProgress
	lines []string
}

func (f *failures) Failed(format string, args ...any) {
	f.lines = append(f.lines, fmt.Sprintf(format, args...))
}

// A rollback passes windows and freezes, except a deny window "including rollbacks"
// open now: blocked (exit 3) without --force, recorded in Promote-Gates with it.
func TestRollbackAllowed(t *testing.T) {
	now := time.Now().UTC()
	open := fmt.Sprintf("daily %s for 2h UTC", now.Add(-time.Minute).Format("15:04"))
	p := &failures{}

	env := policyEnv("production", nil)
	gates, err := rollbackAllowed(env, false, p)
	require.NoError(t, err)
	require.Empty(t, gates)

	// A deny window that does not name rollbacks, and a freeze: rollbacks pass.
	env = policyEnv("production", map[string]string{policy.AnnotationDeny: open, policy.AnnotationFreezeUntil: "2999-01-01"})
	g, err := policy.RollbackWindow(env.Kustomization, env.Name, now)
	require.NoError(t, err)
	require.True(t, g.Passed, g.Message)
	gates, err = rollbackAllowed(env, false, p)
	require.NoError(t, err)
	require.Empty(t, gates)

	env = policyEnv("production", map[string]string{policy.AnnotationDeny: open + " including rollbacks"})
	_, err = rollbackAllowed(env, false, p)
	require.ErrorContains(t, err, `window: rollbacks to production are closed: deny window "`+open+` including rollbacks" until`)
	require.Equal(t, ExitBlocked, ExitCode(err))
	require.Empty(t, p.lines)
	gates, err = rollbackAllowed(env, true, p)
	require.NoError(t, err)
	require.Equal(t, "forced (failed: window)", gates)
	require.Len(t, p.lines, 1)
	require.Contains(t, p.lines[0], "rolling back anyway because of --force")

	env = policyEnv("production", map[string]string{policy.AnnotationDeny: "Fri 25:00-26:00"})
	_, err = rollbackAllowed(env, true, p)
	require.ErrorContains(t, err, "annotation promote.kubectl-promote.dev/deny")
}

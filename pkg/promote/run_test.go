package promote

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
)

// A promotion reads the gates and the plan (both in the preview), checks that it may
// announce, asks, and only then pushes; the announcement comes after the push, on
// the GitRepository first. The commit carries the provenance trailers.
func TestPromoteGatesPlanWriteAnnounceInOrder(t *testing.T) {
	f := newFleet(t)
	p := &fakeflux.Progress{}
	res, err := Run(context.Background(), f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, ExitOK, ExitCode(err))
	require.Equal(t, OutcomePromoted, res.Outcome)
	pushed := f.head()
	require.NotEqual(t, f.seed, pushed)
	short := pushed[:12]
	require.Equal(t, []string{
		"preview gates=6 changes=2 head=seed",
		"review patch gitrepositories flux-system/flux-system head=seed",
		"review patch kustomizations flux-system/apps head=seed",
		"confirm head=seed",
		"annotate GitRepository/flux-system head=" + short,
		"annotate Kustomization/apps head=" + short,
	}, f.journal.all())

	require.Equal(t, StrategyImages, res.Strategy)
	require.Empty(t, gateNames(res.Gates, false), "every gate passed")
	require.False(t, res.Forced)
	require.Equal(t, "main@sha1:"+f.seed, res.Source.Revision)
	require.Len(t, res.Changes, 2)
	require.Equal(t, []string{seed.RedisImage, seed.MyAppImage}, []string{res.Changes[0].Image, res.Changes[1].Image}, "by repository")
	require.Equal(t, []string{"7.2.4", "1.0.0"}, []string{res.Changes[0].From, res.Changes[1].From})
	require.Equal(t, []string{"7.2.5", "1.1.0"}, []string{res.Changes[0].To, res.Changes[1].To})

	c := res.Commit
	require.Equal(t, pushed, c.SHA)
	require.Equal(t, f.seed, c.Parent)
	require.Equal(t, "main@sha1:"+pushed, c.Revision)
	require.Equal(t, "promote(production): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging", c.Subject)
	require.Equal(t, c.Subject, f.subject(pushed))
	require.Equal(t, []string{"staging/flux-system/apps"}, trailer(c, history.TrailerFrom))
	require.Equal(t, []string{"main@sha1:" + f.seed}, trailer(c, history.TrailerFromRevision))
	require.Equal(t, []string{"production/flux-system/apps"}, trailer(c, history.TrailerTo))
	require.Equal(t, []string{"alice@example.com"}, trailer(c, history.TrailerBy), "the SelfSubjectReview's user")
	require.Equal(t, []string{"passed"}, trailer(c, history.TrailerGates))
	require.Len(t, trailer(c, history.TrailerImage), 2)
	body := f.git("log", "-1", "--format=%B", pushed)
	require.Contains(t, body, "\nPromote-Gates: passed")
	overlay := f.git("show", pushed+":apps/production/kustomization.yaml")
	require.Contains(t, overlay, "  - name: ghcr.io/my-org/my-app\n    newTag: \"1.1.0\"")
	require.Contains(t, overlay, "  - name: docker.io/library/redis\n    newTag: \"7.2.5\"")

	require.Equal(t, []string{"GitRepository/flux-system/flux-system", "Kustomization/flux-system/apps"}, res.Reconcile.Annotated)
	src, tgt := f.annotations()
	require.Equal(t, res.Reconcile.RequestedAt, src)
	require.Equal(t, res.Reconcile.RequestedAt, tgt)
	require.False(t, res.Reconcile.Ready, "without --wait nothing is followed")
}

// A failed gate blocks the promotion after the plan is shown: nothing is asked,
// pushed or annotated, and the exit code is 3.
func TestPromoteBlockedByAGate(t *testing.T) {
	f := newFleet(t)
	setReady(t, f.staging, metav1.ConditionFalse, meta.HealthCheckFailedReason, "Deployment/staging/my-app not ready")
	res, err := Run(context.Background(), f.clients, f.options(&fakeflux.Progress{}))
	var blocked *BlockedError
	require.True(t, errors.As(err, &blocked), "%v", err)
	require.Equal(t, []string{"source-ready"}, blocked.Failed)
	require.Equal(t, ExitBlocked, ExitCode(err))
	require.Equal(t, OutcomeBlocked, res.Outcome)
	require.Equal(t, err.Error(), res.Error)
	require.Contains(t, err.Error(), "use --force")
	require.Len(t, res.Changes, 2, "a blocked promotion still shows its plan")
	require.Equal(t, []string{"preview gates=6 changes=2 head=seed"}, f.journal.all(), "no review, no confirmation, no annotation")
	require.Equal(t, f.seed, f.head())
	require.Nil(t, res.Commit)
}

// --force promotes past a failed gate and records it: forced in the result, the
// failed gates in the Promote-Gates trailer.
func TestPromoteForcedRecordsTheFailedGates(t *testing.T) {
	f := newFleet(t)
	setReady(t, f.staging, metav1.ConditionFalse, meta.HealthCheckFailedReason, "Deployment/staging/my-app not ready")
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Force = true
	res, err := Run(context.Background(), f.clients, o)
	require.NoError(t, err)
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.True(t, res.Forced)
	require.Equal(t, []string{"forced (failed: source-ready)"}, trailer(res.Commit, history.TrailerGates))
	require.Contains(t, f.git("log", "-1", "--format=%B", f.head()), "\nPromote-Gates: forced (failed: source-ready)")
	require.Contains(t, p.Lines(), "failed: gates failed (source-ready): promoting anyway because of --force")
}

// Without the permission to announce, nothing is pushed: the SelfSubjectAccessReview
// is asked before the confirmation, and a refusal ends the promotion.
func TestPromoteWithoutPermissionPushesNothing(t *testing.T) {
	f := newFleet(t)
	f.deny.Store("kustomizations")
	res, err := Run(context.Background(), f.clients, f.options(&fakeflux.Progress{}))
	var forbidden *flux.ForbiddenError
	require.True(t, errors.As(err, &forbidden), "%v", err)
	require.Equal(t, "kustomizations.kustomize.toolkit.fluxcd.io", forbidden.Resource)
	require.Equal(t, "flux-system/apps", forbidden.Object)
	require.Contains(t, err.Error(), "nothing was pushed")
	require.Equal(t, ExitError, ExitCode(err))
	require.Equal(t, OutcomeFailed, res.Outcome)
	require.Equal(t, f.seed, f.head())
	for _, e := range f.journal.all() {
		require.False(t, strings.HasPrefix(e, "confirm") || strings.HasPrefix(e, "annotate"), "%s: not asked, not announced", e)
	}
	src, tgt := f.annotations()
	require.Empty(t, src)
	require.Empty(t, tgt)
}

// A branch that refuses the push (a protected branch) is named, with what review
// mode will offer; nothing is pushed or announced.
func TestPromoteToAProtectedBranch(t *testing.T) {
	f := newFleet(t)
	require.NoError(t, f.srv.Protect("fleet.git", "main", "GH006: Protected branch update failed for refs/heads/main."))
	res, err := Run(context.Background(), f.clients, f.options(&fakeflux.Progress{}))
	require.Error(t, err)
	require.Contains(t, err.Error(), "GH006")
	require.Contains(t, err.Error(), `branch "main" is protected`)
	require.Contains(t, err.Error(), "promote with --review")
	require.NotContains(t, err.Error(), "not available yet", "review mode is there")
	require.Contains(t, err.Error(), "nothing was pushed")
	require.Equal(t, ExitError, ExitCode(err))
	require.Equal(t, OutcomeFailed, res.Outcome)
	require.Nil(t, res.Commit)
	require.Equal(t, f.seed, f.head())
	src, tgt := f.annotations()
	require.Empty(t, src)
	require.Empty(t, tgt)
}

// A no at the prompt and a dry run push and annotate nothing.
func TestPromoteDeclinedAndDryRunWriteNothing(t *testing.T) {
	f := newFleet(t)
	o := f.options(&fakeflux.Progress{})
	o.Confirm = func(*v1alpha1.Promotion) (bool, error) { return false, nil }
	res, err := Run(context.Background(), f.clients, o)
	require.ErrorIs(t, err, ErrDeclined)
	require.Equal(t, OutcomeDeclined, res.Outcome)
	require.Equal(t, ExitError, ExitCode(err))

	o = f.options(&fakeflux.Progress{})
	o.DryRun = true
	res, err = Run(context.Background(), f.clients, o)
	require.NoError(t, err)
	require.Equal(t, OutcomeDryRun, res.Outcome)
	require.Len(t, res.Changes, 2)
	require.Nil(t, res.Commit)

	require.Equal(t, f.seed, f.head())
	src, tgt := f.annotations()
	require.Empty(t, src+tgt)
}

// A push whose announcement fails is "unannounced" (exit 6) and names the command
// that finishes it; running the promotion again announces it ("resumed"), and with
// --wait follows it to Ready; a third run has nothing to do and annotates nothing.
func TestPromoteUnannouncedThenResumed(t *testing.T) {
	f := newFleet(t)
	f.refusePatch.Store(true)
	res, err := Run(context.Background(), f.clients, f.options(&fakeflux.Progress{}))
	var unannounced *UnannouncedError
	require.True(t, errors.As(err, &unannounced), "%v", err)
	require.Equal(t, ExitUnannounced, ExitCode(err))
	require.Equal(t, OutcomeUnannounced, res.Outcome)
	pushed := f.head()
	require.NotEqual(t, f.seed, pushed, "the push happened")
	require.Equal(t, pushed, unannounced.Commit)
	require.Equal(t, pushed, res.Commit.SHA)
	require.Contains(t, err.Error(), `run "flux reconcile kustomization apps -n flux-system --with-source --context production", or run this promotion again`)
	src, tgt := f.annotations()
	require.Empty(t, src+tgt)

	f.refusePatch.Store(false)
	f.flux(fakeflux.Controller{})
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Wait = true
	res, err = Run(context.Background(), f.clients, o)
	require.NoError(t, err, p.String())
	require.Equal(t, OutcomeResumed, res.Outcome)
	require.Equal(t, pushed, res.Commit.SHA)
	require.Equal(t, pushed, f.head(), "nothing new was pushed")
	require.True(t, res.Reconcile.Ready)
	require.Equal(t, "main@sha1:"+pushed, res.Reconcile.AppliedRevision)
	require.True(t, hasPrefix(p.Lines(), "failed: promotion "+pushed[:12]+" is on branch main but production has not applied it"), p.String())

	before := len(f.journal.all())
	res, err = Run(context.Background(), f.clients, f.options(&fakeflux.Progress{}))
	require.NoError(t, err)
	require.Equal(t, OutcomeNothingToDo, res.Outcome)
	require.Nil(t, res.Commit)
	for _, e := range f.journal.all()[before:] {
		require.False(t, strings.HasPrefix(e, "annotate"), "applied already: %s", e)
	}
}

// With --wait the promotion follows Flux to Ready on the pushed commit.
func TestPromoteWaitsForFlux(t *testing.T) {
	f := newFleet(t)
	f.flux(fakeflux.Controller{})
	o := f.options(&fakeflux.Progress{})
	o.Wait = true
	res, err := Run(context.Background(), f.clients, o)
	require.NoError(t, err)
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.True(t, res.Reconcile.Ready)
	require.Equal(t, "main@sha1:"+f.head(), res.Reconcile.AppliedRevision)
	require.Equal(t, "main@sha1:"+f.head(), res.Reconcile.SourceRevision)
}

// Another commit landing on top before Flux fetches is fine when it leaves the
// promoted images alone: the wait accepts the descendant Flux applied.
func TestPromoteWaitAcceptsADescendantCarryingTheImages(t *testing.T) {
	f := newFleet(t)
	var once sync.Once
	var later string
	f.flux(fakeflux.Controller{BeforeFetch: func() {
		once.Do(func() {
			var err error
			later, err = f.push(map[string]string{"README.md": "# fleet-infra\n\nedited\n"}, "docs: edit the README")
			if err != nil {
				t.Error(err)
			}
		})
	}})
	o := f.options(&fakeflux.Progress{})
	o.Wait = true
	res, err := Run(context.Background(), f.clients, o)
	require.NoError(t, err)
	require.NotEmpty(t, later)
	require.NotEqual(t, later, res.Commit.SHA)
	require.Equal(t, "main@sha1:"+later, res.Reconcile.AppliedRevision)
	require.True(t, res.Reconcile.Ready)
}

// A commit on top that changes the promoted image again does not count: the target
// never runs what was promoted, and the wait runs out (unhealthy, exit 4).
func TestPromoteWaitRefusesADescendantChangingTheImagesAgain(t *testing.T) {
	f := newFleet(t)
	var once sync.Once
	f.flux(fakeflux.Controller{BeforeFetch: func() {
		once.Do(func() {
			overlay := f.git("show", "main:apps/production/kustomization.yaml") + "\n"
			hotfix := strings.Replace(overlay, `newTag: "1.1.0"`, `newTag: "1.0.1"`, 1)
			if hotfix == overlay {
				t.Errorf("the overlay does not set my-app 1.1.0:\n%s", overlay)
			}
			_, err := f.push(map[string]string{"apps/production/kustomization.yaml": hotfix}, "hotfix: my-app 1.0.1")
			if err != nil {
				t.Error(err)
			}
		})
	}})
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Wait = true
	o.Timeout = 15 * time.Second // the wait times out on the hotfix; room for -race on a loaded machine before it
	res, err := Run(context.Background(), f.clients, o)
	var unhealthy *UnhealthyError
	require.True(t, errors.As(err, &unhealthy), "%v %+v %s", err, res.Reconcile, p)
	var timeout *reconcile.TimeoutError
	require.True(t, errors.As(err, &timeout), "%v", err)
	require.Equal(t, ExitUnhealthy, ExitCode(err))
	require.Equal(t, OutcomeUnhealthy, res.Outcome)
	require.Equal(t, "hotfix: my-app 1.0.1", f.subject(f.head()))
	require.False(t, res.Reconcile.Ready)
}

// A target failing health on the promoted commit is unhealthy (exit 4); with
// --rollback-on-failure the promotion is reverted, pushed, announced and followed.
func TestPromoteUnhealthyRollsBack(t *testing.T) {
	f := newFleet(t)
	f.flux(fakeflux.Controller{Fails: func(name, sha string) string {
		if name == "apps" && strings.HasPrefix(f.subject(sha), "promote(") {
			return "Deployment/production/my-app status: 'Failed'"
		}
		return ""
	}})
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Wait, o.RollbackOnFailure = true, true
	res, err := Run(context.Background(), f.clients, o)
	var unhealthy *UnhealthyError
	require.True(t, errors.As(err, &unhealthy), "%v", err)
	var failed *reconcile.FailedError
	require.True(t, errors.As(err, &failed), "%v", err)
	require.Equal(t, meta.HealthCheckFailedReason, failed.Reason)
	require.Equal(t, ExitUnhealthy, ExitCode(err))
	require.Equal(t, OutcomeUnhealthy, res.Outcome)

	rb := res.Rollback
	require.NotNil(t, rb)
	require.Empty(t, rb.Error, p.String())
	require.Equal(t, f.head(), rb.Commit.SHA)
	require.Equal(t, res.Commit.SHA, rb.Commit.Parent)
	require.Equal(t, []string{res.Commit.SHA}, trailer(rb.Commit, history.TrailerRolledBack))
	require.True(t, strings.HasPrefix(rb.Commit.Subject, "rollback(production): revert "), rb.Commit.Subject)
	require.True(t, rb.Reconcile.Ready)
	require.Equal(t, "main@sha1:"+rb.Commit.SHA, rb.Reconcile.AppliedRevision)
	require.Equal(t, f.git("show", f.seed+":apps/production/kustomization.yaml"), f.git("show", "main:apps/production/kustomization.yaml"), "the revert undid the images")
}

// A signal during the wait is "interrupted" (exit 7): pushed and announced.
func TestPromoteInterruptedWhileWaiting(t *testing.T) {
	f := newFleet(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Wait = true
	go func() {
		// The run ends (and cancels ctx by its deferred cancel) whether or not
		// the line comes: the poll stops with it.
		for ctx.Err() == nil && !hasPrefix(p.Lines(), "waiting: waiting for GitRepository") {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res, err := Run(ctx, f.clients, o)
	var interrupted *InterruptedError
	require.True(t, errors.As(err, &interrupted), "%v", err)
	require.Equal(t, ExitInterrupted, ExitCode(err))
	require.Equal(t, OutcomeInterrupted, res.Outcome)
	require.Equal(t, f.head(), interrupted.Commit)
	require.Contains(t, err.Error(), `follow it with "flux get kustomizations apps -n flux-system --context production"`)
	src, tgt := f.annotations()
	require.NotEmpty(t, src)
	require.NotEmpty(t, tgt)
}

// Layouts the images strategy cannot promote are refused before anything is fetched.
func TestPromoteRefusesWhatItCannotPromote(t *testing.T) {
	f := newFleet(t)
	o := f.options(&fakeflux.Progress{})
	o.To = envRef("staging")
	_, err := Run(context.Background(), f.clients, o)
	require.ErrorContains(t, err, "--from and --to name the same Kustomization staging/flux-system/apps")

	o = f.options(&fakeflux.Progress{})
	o.Strategy = "pull-request"
	_, err = Run(context.Background(), f.clients, o)
	require.ErrorContains(t, err, `--strategy "pull-request"`)

	o = f.options(&fakeflux.Progress{})
	o.To = envRef("dev")
	res, err := Run(context.Background(), f.clients, o)
	var unknown *flux.UnknownContextError
	require.True(t, errors.As(err, &unknown), "%v", err)
	require.Equal(t, OutcomeFailed, res.Outcome)
	require.Equal(t, ExitError, ExitCode(err))
	require.Empty(t, f.journal.all())
}

// A source that never applied anything is blocked, with nothing to plan.
func TestPromoteFromASourceThatAppliedNothing(t *testing.T) {
	f := newFleet(t)
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, f.staging.Client.Get(context.Background(), appsKey, ks))
	ks.Status.LastAppliedRevision, ks.Status.LastAttemptedRevision = "", ""
	require.NoError(t, f.staging.Client.Update(context.Background(), ks))
	res, err := Run(context.Background(), f.clients, f.options(&fakeflux.Progress{}))
	require.Equal(t, ExitBlocked, ExitCode(err), "%v", err)
	require.Contains(t, err.Error(), "blocked by gates: source-applied; nothing was pushed")
	require.Equal(t, OutcomeBlocked, res.Outcome)
	require.Contains(t, gateNames(res.Gates, false), "source-applied")
}

// A target that has not become healthy when --timeout runs out is unhealthy too, and
// --rollback-on-failure reverts it: the rollback gets a timeout of its own, the wait
// having used up the promotion's.
func TestPromoteTimedOutRollsBack(t *testing.T) {
	f := newFleet(t)
	f.flux(fakeflux.Controller{Hangs: func(name, sha string) bool {
		return name == "apps" && strings.HasPrefix(f.subject(sha), "promote(")
	}})
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Wait, o.RollbackOnFailure, o.Timeout = true, true, 3*time.Second
	res, err := Run(context.Background(), f.clients, o)
	var timeout *reconcile.TimeoutError
	require.True(t, errors.As(err, &timeout), "%v", err)
	require.Equal(t, ExitUnhealthy, ExitCode(err))
	rb := res.Rollback
	require.NotNil(t, rb)
	require.Empty(t, rb.Error, p.String())
	require.Equal(t, f.head(), rb.Commit.SHA)
	require.True(t, rb.Reconcile.Ready)
}

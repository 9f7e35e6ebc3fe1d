package promote

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// promoted runs one promotion without --wait and returns its commit.
func (f *fleet) promoted() string {
	f.t.Helper()
	res, err := Run(context.Background(), f.clients, f.options(&fakeflux.Progress{}))
	require.NoError(f.t, err)
	require.Equal(f.t, OutcomePromoted, res.Outcome)
	return res.Commit.SHA
}

func (f *fleet) rollbackOptions(p *fakeflux.Progress) RollbackOptions {
	return RollbackOptions{
		Env: envRef("production"), Reason: "my-app 1.1.0 leaks memory",
		Author:   &repo.Signature{Name: "Promoter Bot", Email: "promoter@example.com"},
		Progress: p, Timeout: 30 * time.Second,
		Preview: func(res *v1alpha1.Rollback) {
			f.journal.add("preview reverted=%d files=%d head=%s", len(res.Reverted), len(res.Files), f.short())
		},
		Confirm: func(*v1alpha1.Rollback) (bool, error) {
			f.journal.add("confirm head=%s", f.short())
			return true, nil
		},
	}
}

// A rollback reverts the last promotion like a promotion: preview, permission,
// prompt, push, announce; with --wait it follows Flux to Ready on the revert, and the
// history then shows the promotion rolled back.
func TestRollbackRevertsTheLastPromotion(t *testing.T) {
	f := newFleet(t)
	promoted := f.promoted()
	before := len(f.journal.all())
	f.flux(fakeflux.Controller{})
	p := &fakeflux.Progress{}
	o := f.rollbackOptions(p)
	o.Wait = true
	res, err := RunRollback(context.Background(), f.clients, o)
	require.NoError(t, err, p.String())
	require.Equal(t, ExitOK, ExitCode(err))
	require.Equal(t, OutcomeRolledBack, res.Outcome)
	reverted := f.head()
	short := promoted[:12]
	events := f.journal.all()[before:]
	require.GreaterOrEqual(t, len(events), 6, "%q", events)
	require.Equal(t, []string{
		"preview reverted=1 files=1 head=" + short,
		"review patch gitrepositories flux-system/flux-system head=" + short,
		"review patch kustomizations flux-system/apps head=" + short,
		"confirm head=" + short,
		"annotate GitRepository/flux-system head=" + reverted[:12],
		"annotate Kustomization/apps head=" + reverted[:12],
	}, events[:6])
	// The dependsOn walk asks apps again only if the source's move has not already
	// made it apply the revert.
	for _, e := range events[6:] {
		require.Equal(t, "annotate Kustomization/apps head="+reverted[:12], e)
	}
	require.LessOrEqual(t, len(events), 7, "%q", events)

	require.Len(t, res.Reverted, 1)
	require.Equal(t, promoted, res.Reverted[0].Commit)
	require.Equal(t, "apps/production/kustomization.yaml", res.Files[0].Path)
	c := res.Commit
	require.Equal(t, reverted, c.SHA)
	require.Equal(t, promoted, c.Parent)
	require.Equal(t, "rollback(production): revert "+promoted[:12]+" (promote(production): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging)", c.Subject)
	require.Equal(t, []string{promoted}, trailer(c, history.TrailerRolledBack))
	require.Equal(t, []string{"production/flux-system/apps"}, trailer(c, history.TrailerTo))
	require.Equal(t, []string{"alice@example.com"}, trailer(c, history.TrailerBy))
	require.Equal(t, []string{"my-app 1.1.0 leaks memory"}, trailer(c, history.TrailerReason))
	require.Equal(t, f.git("show", f.seed+":apps/production/kustomization.yaml"), f.git("show", "main:apps/production/kustomization.yaml"))
	require.True(t, res.Reconcile.Ready)
	require.Equal(t, "main@sha1:"+reverted, res.Reconcile.AppliedRevision)

	env, entries, err := History(context.Background(), f.clients, envRef("production"), HistoryOptions{})
	require.NoError(t, err)
	require.Equal(t, "main@sha1:"+reverted, env.Revision, "the applied revision, as Flux reports it")
	require.Len(t, entries, 2)
	require.Equal(t, history.KindRollback, entries[0].Kind)
	require.Equal(t, history.KindPromotion, entries[1].Kind)
	require.Equal(t, history.StateRolledBack, entries[1].State)

	_, err = RunRollback(context.Background(), f.clients, f.rollbackOptions(&fakeflux.Progress{}))
	require.ErrorIs(t, err, ErrNothingToRollBack, "the only promotion is rolled back already")
}

// A rollback with nothing to revert, a dry run, and one without the permission to
// announce push nothing.
func TestRollbackWritesNothingWhenItMustNot(t *testing.T) {
	f := newFleet(t)
	res, err := RunRollback(context.Background(), f.clients, f.rollbackOptions(&fakeflux.Progress{}))
	require.ErrorIs(t, err, ErrNothingToRollBack)
	require.Equal(t, ExitError, ExitCode(err))
	require.Equal(t, OutcomeFailed, res.Outcome)

	promoted := f.promoted()
	o := f.rollbackOptions(&fakeflux.Progress{})
	o.DryRun = true
	res, err = RunRollback(context.Background(), f.clients, o)
	require.NoError(t, err)
	require.Equal(t, OutcomeDryRun, res.Outcome)
	require.Len(t, res.Files, 1)
	require.Contains(t, res.Files[0].Diff, `-    newTag: "1.1.0"`)
	require.Equal(t, promoted, f.head())

	f.deny.Store("gitrepositories")
	res, err = RunRollback(context.Background(), f.clients, f.rollbackOptions(&fakeflux.Progress{}))
	var forbidden *flux.ForbiddenError
	require.True(t, errors.As(err, &forbidden), "%v", err)
	require.Equal(t, OutcomeFailed, res.Outcome)
	require.Equal(t, promoted, f.head())

	f.deny.Store("")
	o = f.rollbackOptions(&fakeflux.Progress{})
	o.To = promoted[:7]
	_, err = RunRollback(context.Background(), f.clients, o)
	require.ErrorIs(t, err, ErrNothingToRollBack, "--to-revision of the last promotion leaves nothing after it")
	require.Equal(t, promoted, f.head())
}

// A pushed rollback whose announcement is refused is unannounced (exit 6).
func TestRollbackUnannounced(t *testing.T) {
	f := newFleet(t)
	f.promoted()
	f.refusePatch.Store(true)
	res, err := RunRollback(context.Background(), f.clients, f.rollbackOptions(&fakeflux.Progress{}))
	var unannounced *UnannouncedError
	require.True(t, errors.As(err, &unannounced), "%v", err)
	require.Equal(t, ExitUnannounced, ExitCode(err))
	require.Equal(t, OutcomeUnannounced, res.Outcome)
	require.Equal(t, f.head(), unannounced.Commit)
	require.Equal(t, f.head(), res.Commit.SHA)
}

package promote

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// windowGate is a policy gate: it fails for the target it names.
type windowGate struct{ closed string }

func (g windowGate) Check(_ context.Context, in GateInput) v1alpha1.Gates {
	return v1alpha1.Gates{{Name: "window", Environment: in.Target.Name, Passed: in.Target.Name != g.closed, Message: "strategy " + in.Strategy}}
}

// verifier fails every revision but the ones it was told are good.
type verifier struct {
	mu   sync.Mutex
	seen []string
	good func(revision string) bool
}

func (v *verifier) Verify(_ context.Context, env *flux.Environment, revision string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen = append(v.seen, env.Name+" "+revision)
	if v.good(revision) {
		return nil
	}
	return errors.New("smoke test failed")
}

// observer records what it is told.
type observer struct {
	mu     sync.Mutex
	events []string
}

func (o *observer) Pushed(_ context.Context, e Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, "pushed "+e.Target.Name+" "+e.Commit+" "+e.Branch)
}

func (o *observer) Finished(_ context.Context, e Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, "finished "+e.Target.Name+" "+e.Commit+" "+e.Outcome)
}

// An extra gate is read with the built-in ones, shown, and blocks like them.
func TestExtraGateBlocks(t *testing.T) {
	f := newFleet(t)
	o := f.options(&fakeflux.Progress{})
	o.Gates = []Gate{windowGate{closed: "production"}}
	res, err := Run(context.Background(), f.clients, o)
	var blocked *BlockedError
	require.True(t, errors.As(err, &blocked), "%v", err)
	require.Contains(t, gateNames(res.Gates, false), "window")
	require.Equal(t, f.seed, f.head(), "nothing pushed")
	for _, g := range res.Gates {
		if g.Name == "window" {
			require.Equal(t, "strategy images", g.Message)
		}
	}
}

// A verification that fails once the target is Ready is failed health: exit 4 and,
// with --rollback-on-failure, the revert, itself verified. Observers are told of the
// push and of the end.
func TestVerifierFailureIsFailedHealth(t *testing.T) {
	f := newFleet(t)
	f.flux(fakeflux.Controller{})
	v := &verifier{good: func(rev string) bool { return strings.HasPrefix(f.subject(flux.RevisionCommit(rev)), "rollback(") }}
	obs := &observer{}
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Wait, o.RollbackOnFailure = true, true
	o.Verifiers, o.Observers = []Verifier{v}, []Observer{obs}
	res, err := Run(context.Background(), f.clients, o)
	var unhealthy *UnhealthyError
	require.True(t, errors.As(err, &unhealthy), "%v", err)
	require.Equal(t, ExitUnhealthy, ExitCode(err))
	require.Contains(t, err.Error(), "smoke test failed")
	require.Equal(t, OutcomeUnhealthy, res.Outcome)
	require.NotNil(t, res.Rollback)
	require.Empty(t, res.Rollback.Error, p.String())
	require.Equal(t, f.head(), res.Rollback.Commit.SHA)
	require.Len(t, v.seen, 2, "the promotion, then the rollback")
	require.Equal(t, []string{
		"pushed production " + res.Commit.SHA + " main",
		"finished production " + res.Commit.SHA + " " + OutcomeUnhealthy,
	}, obs.events)
}

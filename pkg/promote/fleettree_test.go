package promote

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
)

// The targets of one branch are planned on one checkout of its head, each as if it
// had its own: prod-us-2 reads the overlay prod-us-1's plan edited, and is still
// planned on the head as it is (the edit undone), so both show the same change; and
// the wave announces every target with one reconcile request.
func TestRunWavesSharedCheckoutPlansEachTargetOnTheHead(t *testing.T) {
	f := newWavesFleet(t, nil, "")
	o := f.options([]string{"prod-eu", "prod-us-1", "prod-us-2"})
	o.DryRun = true
	res, err := RunWaves(context.Background(), f.clients, o)
	require.NoError(t, err)
	want := map[string]string{"prod-eu": "apps/prod-eu/kustomization.yaml", "prod-us-1": "apps/prod-us/kustomization.yaml", "prod-us-2": "apps/prod-us/kustomization.yaml"}
	for _, p := range res.Waves[0].Targets {
		require.Equal(t, OutcomeDryRun, p.Outcome, p.Name)
		require.Len(t, p.Changes, 2, p.Name)
		require.Len(t, p.Files, 1, p.Name)
		require.Equal(t, want[p.Target.Context], p.Files[0].Path, p.Name)
		require.Contains(t, p.Files[0].Diff, `+    newTag: "1.1.0"`, p.Name)
	}

	res, err = RunWaves(context.Background(), f.clients, f.options([]string{"prod-eu", "prod-us-1", "prod-us-2"}))
	require.NoError(t, err)
	token := res.Waves[0].Targets[0].Reconcile.RequestedAt
	require.NotEmpty(t, token)
	for _, p := range res.Waves[0].Targets {
		require.Equal(t, token, p.Reconcile.RequestedAt, p.Name)
		require.Equal(t, []string{"GitRepository/flux-system/flux-system", "Kustomization/flux-system/apps"}, p.Reconcile.Annotated, p.Name)
	}
}

// With a checkout per target (plansPerTree 1, two processors), the targets of one
// branch are planned on two checkouts at once, each target still on the head as it
// is: prod-us-1 and prod-us-2, one overlay on two checkouts, show the same change,
// and the push lands every target's edit.
func TestRunWavesPlansOnSeveralCheckoutsOfABranch(t *testing.T) {
	old, procs := plansPerTree, runtime.GOMAXPROCS(2)
	plansPerTree = 1
	t.Cleanup(func() { plansPerTree = old; runtime.GOMAXPROCS(procs) })
	f := newWavesFleet(t, nil, "")
	targets := []string{"prod-eu", "prod-us-1", "prod-us-2"}

	p := newPipeline(f.clients, f.options(targets), true)
	defer p.close()
	ctx := context.Background()
	require.NoError(t, p.load(ctx))
	require.NoError(t, p.plan(ctx))
	trees := map[*plan.SharedTree]bool{}
	for _, tg := range p.all() {
		trees[tg.w.tree] = true
		require.Len(t, tg.change.Plan.Changes, 2, tg.spec.Raw)
	}
	require.Len(t, trees, 2, "two checkouts of main for three targets on two processors")

	res, err := RunWaves(ctx, f.clients, f.options(targets))
	require.NoError(t, err)
	for _, tg := range res.Waves[0].Targets {
		require.Equal(t, OutcomePromoted, tg.Outcome, tg.Name)
		require.Len(t, tg.Changes, 2, tg.Name)
	}
	require.Len(t, res.Waves[0].Commits, 1, "one commit for the branch")
}

// A target whose API server never answers fails the fleet's promotion after
// LoadTimeout, with one error naming it, and nothing is written.
func TestRunWavesDeadTargetIsOneErrorWithinLoadTimeout(t *testing.T) {
	old := LoadTimeout
	LoadTimeout = time.Second
	t.Cleanup(func() { LoadTimeout = old })
	f := newWavesFleet(t, nil, "")
	dead := f.clusters["prod-us-1"]
	dead.Client = interceptor.NewClient(dead.Client, interceptor.Funcs{
		Get: func(ctx context.Context, _ client.WithWatch, _ client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
			<-ctx.Done() // a listener that never replies
			return ctx.Err()
		},
	})
	start := time.Now()
	_, err := RunWaves(context.Background(), f.clients, f.options([]string{"prod-eu", "prod-us-1", "prod-us-2"}))
	require.EqualError(t, err, "target prod-us-1: the API server did not answer within 1s: check the cluster is up and reachable")
	require.Less(t, time.Since(start), 10*time.Second, "not --timeout")
	require.Empty(t, f.log(), "nothing pushed")
}

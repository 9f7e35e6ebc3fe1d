package promote

import (
	"context"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

func TestExpandWaves(t *testing.T) {
	contexts := []string{"prod-eu", "prod-us-1", "prod-us-2", "staging"}
	for _, tc := range []struct {
		given []string
		want  [][]string
		err   string
	}{
		{given: []string{"prod-eu"}, want: [][]string{{"prod-eu"}}},
		{given: []string{"prod-eu", "prod-us-1,prod-us-2"}, want: [][]string{{"prod-eu"}, {"prod-us-1", "prod-us-2"}}},
		{given: []string{"prod-eu", "prod-us-*"}, want: [][]string{{"prod-eu"}, {"prod-us-1", "prod-us-2"}}},
		{given: []string{"prod-*/flux-system/apps"}, want: [][]string{{"prod-eu/flux-system/apps", "prod-us-1/flux-system/apps", "prod-us-2/flux-system/apps"}}},
		{given: []string{"flux-system/apps"}, want: [][]string{{"flux-system/apps"}}},
		{given: []string{"prod-ap-*"}, err: `--to "prod-ap-*" matches no kubeconfig context; contexts: prod-eu, prod-us-1, prod-us-2, staging`},
		{given: []string{"prod-xx"}, err: `--to "prod-xx": no kubeconfig context "prod-xx"; contexts: prod-eu, prod-us-1, prod-us-2, staging`},
		{given: []string{"prod-eu,"}, err: `--to "prod-eu,": an empty environment in the list`},
		{given: []string{"prod-eu", "prod-*"}, err: `--to: prod-eu is in waves 1 and 2; a target is promoted once`},
		{given: []string{"prod-us-1,prod-us-?"}, err: `--to: prod-us-1 is named twice in wave 1 ("prod-us-1,prod-us-?")`},
		{given: []string{"flux-system/*"}, err: `--to "flux-system/*": a glob names contexts; write CONTEXT-GLOB or CONTEXT-GLOB/NAMESPACE/NAME`},
		{given: []string{"prod-["}, err: `--to "prod-[": bad glob: syntax error in pattern`},
	} {
		t.Run(strings.Join(tc.given, " "), func(t *testing.T) {
			got, err := ExpandWaves(tc.given, contexts)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := ExpandWaves([]string{"x"}, nil)
	require.EqualError(t, err, `--to "x": no kubeconfig context "x"; the kubeconfig has no contexts`)
}

// wavesFleet is the seed's four-cluster fleet on fake clusters: staging, prod-eu,
// and prod-us-1 and prod-us-2 reading one overlay, with fake Flux on the targets.
type wavesFleet struct {
	t        *testing.T
	bare     string
	seed     string
	clusters map[string]*flux.Cluster
	clients  *flux.Clients
}

func newWavesFleet(t *testing.T, fails map[string]bool, suspended string) *wavesFleet {
	t.Helper()
	srv := gitserver.NewForTest(t, gitserver.Options{})
	dir := t.TempDir()
	so := seed.Options{Envs: seed.FleetEnvs()}
	require.NoError(t, seed.Write(dir, so))
	sha, err := srv.Init("fleet.git", dir, "main")
	require.NoError(t, err)
	f := &wavesFleet{t: t, bare: srv.Dir("fleet.git"), seed: sha, clusters: map[string]*flux.Cluster{}}
	var all []*flux.Cluster
	for _, e := range so.Envs {
		c := fakeflux.NewCluster(t, fakeflux.Options{Context: e.Name, Env: e.Name, Seed: so, URL: srv.URL("fleet.git"), Applied: sha, User: "alice@example.com"})
		f.clusters[e.Name] = c
		all = append(all, c)
		if e.Name == suspended {
			ks := &kustomizev1.Kustomization{}
			require.NoError(t, c.Client.Get(context.Background(), appsKey, ks))
			ks.Spec.Suspend = true
			require.NoError(t, c.Client.Update(context.Background(), ks))
		}
		if e.Name == "staging" {
			continue
		}
		ctl := fakeflux.Controller{Client: c.Client, Head: func() (string, error) { return gitserver.Git(f.bare, "rev-parse", "refs/heads/main") }}
		if fails[e.Name] {
			ctl.Fails = func(name, sha string) string {
				if name == "apps" && sha != f.seed && !strings.HasPrefix(f.subjectOf(sha), "rollback(") {
					return "health check failed: Deployment/prod-us/my-app"
				}
				return ""
			}
		}
		ctl.Start(t)
	}
	f.clients = flux.NewClientsFor("staging", all...)
	return f
}

func (f *wavesFleet) subjectOf(sha string) string {
	out, _ := gitserver.Git(f.bare, "log", "-1", "--format=%s", sha)
	return out
}

// log is the branch's commits after the seed, oldest first, as "subject|files".
func (f *wavesFleet) log() []string {
	f.t.Helper()
	out, err := gitserver.Git(f.bare, "log", "--reverse", "--format=%H", f.seed+"..main")
	require.NoError(f.t, err)
	var lines []string
	for _, sha := range strings.Fields(out) {
		files, err := gitserver.Git(f.bare, "diff-tree", "--no-commit-id", "--name-only", "-r", sha)
		require.NoError(f.t, err)
		lines = append(lines, f.subjectOf(sha)+"|"+strings.Join(strings.Fields(files), ","))
	}
	return lines
}

func (f *wavesFleet) options(waves ...[]string) WaveOptions {
	o := WaveOptions{Options: Options{From: envRef("staging"), Author: &repo.Signature{Name: "Promoter Bot", Email: "promoter@example.com"},
		Progress: &fakeflux.Progress{}, Timeout: 20 * time.Second}}
	for _, w := range waves {
		var specs []flux.RefSpec
		for _, c := range w {
			specs = append(specs, envRef(c))
		}
		o.Waves = append(o.Waves, specs)
		o.Given = append(o.Given, strings.Join(w, ","))
	}
	return o
}

// Wave 1 is one commit to prod-eu's overlay, followed to Ready before wave 2's one
// commit to the overlay prod-us-1 and prod-us-2 share, whose trailers name both.
func TestRunWavesOneCommitPerWaveInOrder(t *testing.T) {
	f := newWavesFleet(t, nil, "")
	o := f.options([]string{"prod-eu"}, []string{"prod-us-1", "prod-us-2"})
	o.Wait = true
	res, err := RunWaves(context.Background(), f.clients, o)
	require.NoError(t, err, o.Progress.(*fakeflux.Progress).String())
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.Equal(t, []string{
		"promote(prod-eu): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging|apps/prod-eu/kustomization.yaml",
		"promote(prod-us-1, prod-us-2): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging|apps/prod-us/kustomization.yaml",
	}, f.log())
	require.Len(t, res.Waves, 2)
	w1, w2 := res.Waves[0], res.Waves[1]
	require.Len(t, w1.Commits, 1)
	require.Len(t, w2.Commits, 1)
	require.Equal(t, w1.Commits[0].SHA, w2.Commits[0].Parent, "wave 2 is committed on wave 1")
	require.Equal(t, []string{"prod-us-1/flux-system/apps", "prod-us-2/flux-system/apps"}, trailer(&w2.Commits[0], history.TrailerTo))
	for _, p := range w2.Targets {
		require.Equal(t, OutcomePromoted, p.Outcome)
		require.Equal(t, w2.Commits[0].SHA, p.Commit.SHA)
		require.True(t, p.Reconcile.Ready, p.Name)
		require.Len(t, p.Changes, 2)
		require.Empty(t, p.Kind, "a target is a Promotion without apiVersion and kind")
	}
	// Wave 1 was Ready on its commit before wave 2 was pushed: its applied revision
	// is wave 1's commit, not wave 2's descendant of it.
	require.Equal(t, "main@sha1:"+w1.Commits[0].SHA, w1.Targets[0].Reconcile.AppliedRevision)

	// The same again: nothing to promote anywhere, nothing pushed.
	res, err = RunWaves(context.Background(), f.clients, f.options([]string{"prod-eu"}, []string{"prod-us-1", "prod-us-2"}))
	require.NoError(t, err)
	require.Equal(t, OutcomeNothingToDo, res.Outcome)
	require.Len(t, f.log(), 2)
}

// Targets of one wave reading different overlays of one branch get one commit.
func TestRunWavesOneCommitForTheWave(t *testing.T) {
	f := newWavesFleet(t, nil, "")
	res, err := RunWaves(context.Background(), f.clients, f.options([]string{"prod-eu", "prod-us-1", "prod-us-2"}))
	require.NoError(t, err)
	require.Equal(t, []string{
		"promote(prod-eu, prod-us-1, prod-us-2): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging|apps/prod-eu/kustomization.yaml,apps/prod-us/kustomization.yaml",
	}, f.log())
	require.Len(t, res.Waves[0].Commits, 1)
	require.Equal(t, []string{"prod-eu/flux-system/apps", "prod-us-1/flux-system/apps", "prod-us-2/flux-system/apps"}, trailer(&res.Waves[0].Commits[0], history.TrailerTo))
}

// A gate failing in one target blocks the whole fleet before anything is pushed.
func TestRunWavesGateBlocksEverything(t *testing.T) {
	f := newWavesFleet(t, nil, "prod-us-2")
	res, err := RunWaves(context.Background(), f.clients, f.options([]string{"prod-eu"}, []string{"prod-us-1", "prod-us-2"}))
	require.Error(t, err)
	require.Equal(t, ExitBlocked, ExitCode(err))
	require.Equal(t, OutcomeBlocked, res.Outcome)
	require.Contains(t, err.Error(), "target-suspended")
	require.Empty(t, f.log(), "nothing pushed")
	for _, w := range res.Waves {
		for _, p := range w.Targets {
			require.Equal(t, OutcomeBlocked, p.Outcome, p.Name)
			require.NotEmpty(t, p.Changes, "the plan is shown")
		}
	}
}

// A wave that fails health stops the run; --rollback-on-failure reverts the wave,
// and the waves before it stay.
func TestRunWavesFailingWaveStopsAndRollsBack(t *testing.T) {
	f := newWavesFleet(t, map[string]bool{"prod-us-1": true}, "")
	o := f.options([]string{"prod-eu"}, []string{"prod-us-1", "prod-us-2"})
	o.Wait, o.RollbackOnFailure = true, true
	pr := o.Progress.(*fakeflux.Progress)
	res, err := RunWaves(context.Background(), f.clients, o)
	require.Error(t, err)
	require.Equal(t, ExitUnhealthy, ExitCode(err), err.Error())
	require.Equal(t, OutcomeUnhealthy, res.Outcome)
	log := f.log()
	require.Len(t, log, 3, pr.String())
	require.True(t, strings.HasPrefix(log[2], "rollback(prod-us-1, prod-us-2): revert "), log[2])
	require.Equal(t, OutcomePromoted, res.Waves[0].Outcome)
	require.Equal(t, OutcomeUnhealthy, res.Waves[1].Outcome)
	require.NotNil(t, res.Waves[1].Rollback)
	require.Empty(t, res.Waves[1].Rollback.Error)
	require.Equal(t, OutcomeUnhealthy, res.Waves[1].Targets[0].Outcome)
	require.NotNil(t, res.Waves[1].Targets[1].Rollback)
	require.Contains(t, pr.String(), "wave 2 rolled back; wave 1 stays promoted")
	// prod-eu still runs wave 1's commit.
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, f.clusters["prod-eu"].Client.Get(context.Background(), client.ObjectKey{Namespace: fakeflux.Namespace, Name: "apps"}, ks))
	require.Equal(t, "main@sha1:"+res.Waves[0].Commits[0].SHA, ks.Status.LastAppliedRevision)
}

// A failing first wave leaves the later waves untouched.
func TestRunWavesFailureSkipsLaterWaves(t *testing.T) {
	f := newWavesFleet(t, map[string]bool{"prod-us-1": true}, "")
	o := f.options([]string{"prod-us-1", "prod-us-2"}, []string{"prod-eu"})
	res, err := RunWaves(context.Background(), f.clients, o)
	require.Equal(t, ExitUnhealthy, ExitCode(err))
	require.Len(t, f.log(), 1)
	require.Equal(t, OutcomeSkipped, res.Waves[1].Outcome)
	require.Equal(t, OutcomeSkipped, res.Waves[1].Targets[0].Outcome)
	require.Nil(t, res.Waves[1].Targets[0].Commit)
}

// Targets reading one overlay cannot be in different waves: one commit moves both.
func TestRunWavesSameOverlayDifferentWaves(t *testing.T) {
	f := newWavesFleet(t, nil, "")
	_, err := RunWaves(context.Background(), f.clients, f.options([]string{"prod-us-1"}, []string{"prod-us-2"}))
	require.EqualError(t, err, "prod-us-1 (wave 1) and prod-us-2 (wave 2) both read path ./apps/prod-us of branch main, so one commit promotes both: put them in the same wave")
	require.Empty(t, f.log())
}

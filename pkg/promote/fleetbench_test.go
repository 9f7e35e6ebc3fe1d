package promote

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// BenchmarkFleetOverhead is the tool's own work of a fleet promotion without
// --wait (load, gates, clone, plans, commit, push, announce) in a fleet of a
// hundred environments, each on an overlay of its own, on fake clusters: one target,
// then all hundred in one wave. It is what a target adds when its cluster answers at
// once; make bench-fleet measures the same against a real API server and real Flux.
func BenchmarkFleetOverhead(b *testing.B) {
	f := newBenchFleet(b, 100)
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				f.reset(b)
				b.StartTimer()
				o := f.options()
				o.Waves[0], o.Given[0] = o.Waves[0][:n], fmt.Sprint(n, " target(s)")
				res, err := RunWaves(ctx, f.clients, o)
				require.NoError(b, err)
				require.Equal(b, OutcomePromoted, res.Outcome)
			}
		})
	}
}

type benchFleet struct {
	bare, work, initial string
	envs                []string
	clients             *flux.Clients
}

func newBenchFleet(b testing.TB, n int) *benchFleet {
	srv := gitserver.NewForTest(b, gitserver.Options{})
	dir := b.TempDir()
	so := seed.Options{Envs: []seed.Env{{Name: "staging", Images: map[string]string{seed.MyAppImage: "1.1.0", seed.RedisImage: "7.2.5"}}}}
	f := &benchFleet{}
	for i := 0; i < n; i++ {
		env := fmt.Sprintf("env-%02d", i)
		so.Envs = append(so.Envs, seed.Env{Name: env})
		f.envs = append(f.envs, env)
	}
	require.NoError(b, seed.Write(dir, so))
	sha, err := srv.Init("fleet.git", dir, "main")
	require.NoError(b, err)
	f.bare, f.initial = srv.Dir("fleet.git"), sha
	f.work = filepath.Join(b.TempDir(), "work")
	_, err = gitserver.Git(filepath.Dir(f.work), "clone", "--quiet", f.bare, f.work)
	require.NoError(b, err)
	var all []*flux.Cluster
	for _, e := range so.Envs {
		all = append(all, fakeflux.NewCluster(b, fakeflux.Options{Context: e.Name, Env: e.Name, Seed: so, URL: srv.URL("fleet.git"), Applied: sha, User: "bench@example.com"}))
	}
	f.clients = flux.NewClientsFor("staging", all...)
	return f
}

// reset commits every overlay back to the seed's, so each round has the same work.
func (f *benchFleet) reset(b testing.TB) {
	for _, args := range [][]string{
		{"pull", "--quiet", "--ff-only"},
		{"checkout", f.initial, "--", "apps"},
		{"-c", "user.name=b", "-c", "user.email=b@x", "commit", "--quiet", "--allow-empty", "-m", "reset"},
		{"push", "--quiet"},
	} {
		_, err := gitserver.Git(f.work, args...)
		require.NoError(b, err)
	}
}

func (f *benchFleet) options() WaveOptions {
	o := WaveOptions{Options: Options{From: envRef("staging"), Author: &repo.Signature{Name: "Bench", Email: "bench@example.com"},
		Progress: nopProgress{}, Timeout: time.Minute}}
	var specs []flux.RefSpec
	for _, e := range f.envs {
		specs = append(specs, envRef(e))
	}
	o.Waves = [][]flux.RefSpec{specs}
	o.Given = []string{""}
	return o
}

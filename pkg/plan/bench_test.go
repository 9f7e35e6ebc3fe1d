package plan

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
)

// LargeOptions is the 500-app, three-environment repository of the benchmarks.
func largeOptions() seed.Options {
	envs := seed.DefaultEnvs()
	return seed.Options{ExtraApps: 500, Envs: append([]seed.Env{{Name: "dev", Replicas: 1}}, envs...)}
}

// benchmarkCompute promotes staging to production; each round edits a fresh copy of
// the target checkout, written outside the timer.
func benchmarkCompute(b *testing.B, o seed.Options, wantChanges int) {
	src := seedRepo(b, o)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tgt := seedRepo(b, o)
		in := seedInput(b, src, tgt)
		b.StartTimer()
		p, err := Compute(context.Background(), in)
		b.StopTimer()
		require.NoError(b, err)
		require.Len(b, p.Changes, wantChanges)
		b.StartTimer()
	}
}

func BenchmarkComputeSeed(b *testing.B) { benchmarkCompute(b, seed.Options{}, 2) }

// 500 extra apps pinned to 1.0.1 in staging and 1.0.2 in production, plus the seed's two.
func BenchmarkComputeLarge(b *testing.B) { benchmarkCompute(b, largeOptions(), 502) }

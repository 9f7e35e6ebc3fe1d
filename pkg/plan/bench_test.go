package plan

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
)

// largeOptions is the 500-app, three-environment repository of the benchmarks, with
// each app in its own sub-overlay per environment (perApp), or with all the
// environment's images: entries in its one overlay kustomization.yaml.
func largeOptions(perApp bool) seed.Options {
	envs := seed.DefaultEnvs()
	return seed.Options{ExtraApps: 500, PerAppOverlays: perApp, Envs: append([]seed.Env{{Name: "dev", Replicas: 1}}, envs...)}
}

// benchmarkCompute promotes staging to production; each round edits a fresh copy of
// the target checkout, written outside the timer. Besides the time per operation it
// reports cpu-ms/op, the process's CPU time (user and system, garbage collection
// included) during Compute, which other load on the machine inflates far less.
func benchmarkCompute(b *testing.B, o seed.Options, wantChanges, wantFiles int) {
	src := seedRepo(b, o)
	var cpu time.Duration
	cpuOK := true
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tgt := seedRepo(b, o)
		in := seedInput(b, src, tgt)
		runtime.GC() // the setup's garbage is not Compute's to collect
		before, ok1 := timing.CPUTime()
		b.StartTimer()
		p, err := Compute(context.Background(), in)
		b.StopTimer()
		after, ok2 := timing.CPUTime()
		cpu += after - before
		cpuOK = cpuOK && ok1 && ok2
		require.NoError(b, err)
		require.Len(b, p.Changes, wantChanges)
		require.Len(b, p.Files, wantFiles)
		b.StartTimer()
	}
	if cpuOK {
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

func BenchmarkComputeSeed(b *testing.B) { benchmarkCompute(b, seed.Options{}, 2, 1) }

// 500 extra apps pinned to 1.0.1 in staging and 1.0.2 in production, each in its own
// sub-overlay, plus the seed's two: the edit touches the 500 sub-overlays and adds
// the seed's two images to the production overlay.
func BenchmarkComputeLarge(b *testing.B) { benchmarkCompute(b, largeOptions(true), 502, 501) }

// The same 500 apps with their 500 images: entries in each environment's single
// overlay kustomization.yaml: kustomize's images transformer then passes over every
// resource once per entry, 500×500 per render.
func BenchmarkComputeLargeOneImagesList(b *testing.B) {
	benchmarkCompute(b, largeOptions(false), 502, 1)
}

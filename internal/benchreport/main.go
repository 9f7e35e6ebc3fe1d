// Command benchreport measures what a promotion's planning costs against the floor
// it cannot go below: it times plan.Compute (three Flux-style renders, the diff, the
// edit and the verification) and a baseline of two plain krusty builds of the same
// overlays (no Flux generator, no edit, no verification), alternating the two in the
// same process for several rounds, and prints the medians and their ratio, with the
// median CPU time of Compute (user and system, garbage collection included), which
// other load on the machine distorts less than the elapsed time. Absolute times
// depend on the machine and its load; the ratio says how much kubectl-promote adds on
// top of kustomize itself. `make bench` runs it.
//
// The repositories are the seed, and a fleet of 500 apps in three environments laid
// out as large fleets are, one sub-overlay per app and environment with its own
// images: entry; then, unless -one-list=false, the same fleet with every entry in
// the environment's one overlay kustomization.yaml, a shape kustomize builds slowly
// (its images transformer passes over every resource once per entry).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
)

func main() {
	rounds := flag.Int("rounds", 5, "Rounds per repository; the medians are reported")
	large := flag.Int("large", 500, "Extra apps in the large repository (0 skips it)")
	largeRounds := flag.Int("large-rounds", 3, "Rounds for the large repository")
	oneList := flag.Bool("one-list", true, "Also measure the large repository with all its images: entries in each environment's one overlay (about a minute a round)")
	flag.Parse()
	if err := run(*rounds, *large, *largeRounds, *oneList); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

type result struct {
	name                string
	rounds              int
	ours, baseline, cpu time.Duration
	cpuOK               bool
	changes, files      int
}

func run(rounds, large, largeRounds int, oneList bool) error {
	type bench struct {
		name   string
		o      seed.Options
		rounds int
	}
	cases := []bench{{"seed (staging→production)", seed.Options{}, rounds}}
	if large > 0 {
		envs := append([]seed.Env{{Name: "dev", Replicas: 1}}, seed.DefaultEnvs()...)
		// The large fleet's layout: one sub-overlay per app and environment, each
		// with its own images: entry. Then the same apps with every entry in the
		// environment's one overlay, a shape whose cost is kustomize's images
		// transformer (one pass over every resource per entry), kept visible here.
		cases = append(cases, bench{fmt.Sprintf("%d apps × 3 envs, per-app overlays (staging→production)", large),
			seed.Options{ExtraApps: large, Envs: envs, PerAppOverlays: true}, largeRounds})
		if oneList {
			cases = append(cases, bench{fmt.Sprintf("%d apps × 3 envs, one images: list (staging→production)", large),
				seed.Options{ExtraApps: large, Envs: envs}, largeRounds})
		}
	}
	var results []result
	for _, c := range cases {
		fmt.Fprintf(os.Stderr, "► %s: %d rounds\n", c.name, c.rounds)
		r, err := measure(c.name, c.o, c.rounds)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		results = append(results, r)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REPOSITORY\tROUNDS\tCHANGES\tFILES\tCOMPUTE (MEDIAN)\tCOMPUTE CPU (MEDIAN)\tBASELINE KRUSTY ×2 (MEDIAN)\tRATIO")
	for _, r := range results {
		cpu := "-"
		if r.cpuOK {
			cpu = r.cpu.Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%.2f\n", r.name, r.rounds, r.changes, r.files,
			r.ours.Round(time.Millisecond), cpu, r.baseline.Round(time.Millisecond), float64(r.ours)/float64(r.baseline))
	}
	return w.Flush()
}

func measure(name string, o seed.Options, rounds int) (result, error) {
	tmp, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "source")
	if err := seed.Write(src, o); err != nil {
		return result{}, err
	}
	srcKs, err := appsKustomization(src, "staging")
	if err != nil {
		return result{}, err
	}
	r := result{name: name, rounds: rounds}
	var ours, base, cpu []time.Duration
	r.cpuOK = true
	for i := 0; i < rounds; i++ {
		// A fresh target checkout each round, since Compute edits it.
		tgt := filepath.Join(tmp, fmt.Sprintf("target-%d", i))
		if err := seed.Write(tgt, o); err != nil {
			return r, err
		}
		tgtKs, err := appsKustomization(tgt, "production")
		if err != nil {
			return r, err
		}
		runtime.GC() // the setup's garbage is not Compute's to collect
		cpu0, ok0 := timing.CPUTime()
		start := time.Now()
		p, err := plan.Compute(context.Background(), plan.Input{SourceDir: src, TargetDir: tgt, Source: srcKs, Target: tgtKs})
		if err != nil {
			return r, err
		}
		ours = append(ours, time.Since(start))
		cpu1, ok1 := timing.CPUTime()
		cpu = append(cpu, cpu1-cpu0)
		r.cpuOK = r.cpuOK && ok0 && ok1
		r.changes, r.files = len(p.Changes), len(p.Files)

		runtime.GC()
		start = time.Now()
		for _, dir := range []string{filepath.Join(src, "apps", "staging"), filepath.Join(src, "apps", "production")} {
			if _, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir); err != nil {
				return r, err
			}
		}
		base = append(base, time.Since(start))
		fmt.Fprintf(os.Stderr, "  round %d: compute %s (cpu %s), baseline %s\n", i+1,
			ours[i].Round(time.Millisecond), cpu[i].Round(time.Millisecond), base[i].Round(time.Millisecond))
	}
	r.ours, r.baseline, r.cpu = timing.Median(ours), timing.Median(base), timing.Median(cpu)
	return r, nil
}

func appsKustomization(dir, env string) (*kustomizev1.Kustomization, error) {
	data, err := os.ReadFile(filepath.Join(dir, "clusters", env, "apps.yaml"))
	if err != nil {
		return nil, err
	}
	ks := &kustomizev1.Kustomization{}
	return ks, yaml.UnmarshalStrict(data, ks)
}

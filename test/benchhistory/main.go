// Command benchhistory measures whether a promotion's cost grows with the history of
// the repository: `kubectl promote --dry-run` (read both environments, fetch, check
// out, plan, gate) on the seed layout in a real cluster with real Flux, first with a
// repository of one commit, then after 50,000 more commits (made with git
// fast-import, on files no Kustomization reads, and applied by Flux), each with a
// cold repository cache (deleted before every run) and a warm one (kept), beside a
// depth-1 `git clone` of the same branch, which is what source-controller does.
//
// It prints every median and the ratios, and fails when the targets are missed:
// 50,000 commits within 1.2× of one commit, cold and warm; warm within 1.2× of cold.
//
// Run from test/: go run ./benchhistory [-rounds 5] [-commits 50000] (make bench-history).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

func main() {
	rounds := flag.Int("rounds", 5, "Measured rounds of each scenario")
	commits := flag.Int("commits", 50000, "Commits added for the long history")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rounds, *commits); err != nil {
		fmt.Fprintf(os.Stderr, "benchhistory: %v\n", err)
		stop()
		os.Exit(1)
	}
}

type bench struct {
	f                *fleet.Fleet
	bin, home, cache string
	work             string
	args             []string
}

// medians of one repository: cold and warm cache, and the depth-1 clone.
type medians struct{ cold, warm, clone time.Duration }

func run(ctx context.Context, rounds, commits int) error {
	if rounds < 1 || commits < 1 {
		return fmt.Errorf("-rounds and -commits must be at least 1")
	}
	planeDir, err := plane.BinDir("")
	if err != nil {
		return err
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kubectl-promote-benchhistory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{bin: filepath.Join(work, "bin"), home: filepath.Join(work, "home"), work: work}
	b.cache = filepath.Join(b.home, ".cache")
	for _, d := range []string{b.bin, b.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(b.bin, "kubectl-promote"), "./cmd/kubectl-promote")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the plugin: %v\n%s", err, out)
	}
	if err := os.Symlink(filepath.Join(planeDir, "kubectl"), filepath.Join(b.bin, "kubectl")); err != nil {
		return err
	}
	f, err := fleet.Start(ctx, fleet.Options{Dir: filepath.Join(work, "fleet"), Seed: seed.Options{Envs: seed.DefaultEnvs()}, Shared: true, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer f.Stop()
	b.f = f
	b.args = []string{"promote", "--from", f.AppsRef("staging"), "--to", f.AppsRef("production"), "--dry-run"}

	short, err := b.measure(ctx, rounds, "1 commit")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "► adding %d commits with git fast-import\n", commits)
	start := time.Now()
	head, err := gitserver.AddHistory(f.Git.Dir(fleet.Repo), fleet.Branch, commits)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "✔ added in %.1f s; waiting for Flux to apply %s\n", time.Since(start).Seconds(), head[:12])
	for _, env := range f.Envs {
		if err := f.Reconcile(ctx, env); err != nil {
			return err
		}
		if err := f.Settle(ctx, env, head); err != nil {
			return fmt.Errorf("settle %s: %w", env, err)
		}
	}
	long, err := b.measure(ctx, rounds, fmt.Sprintf("%d commits", commits+1))
	if err != nil {
		return err
	}
	return report(rounds, commits, short, long)
}

func report(rounds, commits int, short, long medians) error {
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	fmt.Println()
	fmt.Printf("kubectl promote --dry-run on the seed layout, median of %d rounds:\n", rounds)
	fmt.Printf("  %-16s %10s %10s %14s %10s\n", "repository", "cold", "warm", "warm/cold", "git clone --depth 1")
	for _, r := range []struct {
		name string
		m    medians
	}{{"1 commit", short}, {fmt.Sprintf("%d commits", commits+1), long}} {
		fmt.Printf("  %-16s %8.0f ms %8.0f ms %13.2f× %8.0f ms\n", r.name, ms(r.m.cold), ms(r.m.warm), ratio(r.m.warm, r.m.cold), ms(r.m.clone))
	}
	fmt.Printf("  long / short: cold %.2f×, warm %.2f×, git clone --depth 1 %.2f× (targets ≤ 1.2×)\n",
		ratio(long.cold, short.cold), ratio(long.warm, short.warm), ratio(long.clone, short.clone))
	var failed []string
	for _, c := range []struct {
		what string
		r    float64
	}{{"cold, long/short", ratio(long.cold, short.cold)}, {"warm, long/short", ratio(long.warm, short.warm)},
		{"short, warm/cold", ratio(short.warm, short.cold)}, {"long, warm/cold", ratio(long.warm, long.cold)}} {
		if c.r > 1.2 {
			failed = append(failed, fmt.Sprintf("%s %.2f×", c.what, c.r))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("targets missed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// measure times, round by round (so that a load on the machine weighs on both
// alike), a dry run with the cache removed first, then one with the cache it left,
// and a depth-1 clone.
func (b *bench) measure(ctx context.Context, rounds int, name string) (medians, error) {
	var cold, warm, clone []time.Duration
	for i := range rounds {
		if err := os.RemoveAll(b.cache); err != nil {
			return medians{}, err
		}
		c, err := b.time(ctx)
		if err != nil {
			return medians{}, err
		}
		w, err := b.time(ctx)
		if err != nil {
			return medians{}, err
		}
		cold, warm = append(cold, c), append(warm, w)
		fmt.Fprintf(os.Stderr, "  %s, round %d: cold %6.0f ms, warm %6.0f ms\n", name, i+1, ms(c), ms(w))
	}
	for i := range rounds {
		dir := filepath.Join(b.work, "clone")
		start := time.Now()
		out, err := exec.CommandContext(ctx, "git", "clone", "--quiet", "--depth", "1", "--single-branch", "--branch", fleet.Branch,
			b.f.Git.URL(fleet.Repo), dir).CombinedOutput()
		d := time.Since(start)
		if err != nil {
			return medians{}, fmt.Errorf("git clone: %v: %s", err, out)
		}
		clone = append(clone, d)
		fmt.Fprintf(os.Stderr, "  %s, git clone --depth 1 round %d: %6.0f ms\n", name, i+1, ms(d))
		if err := os.RemoveAll(dir); err != nil {
			return medians{}, err
		}
	}
	return medians{cold: timing.Median(cold), warm: timing.Median(warm), clone: timing.Median(clone)}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// time runs the dry run once; it must succeed and say it was a dry run.
func (b *bench) time(ctx context.Context) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "kubectl-promote"), b.args[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+b.f.Kubeconfig, "HOME="+b.home, "XDG_CACHE_HOME="+b.cache, "NO_COLOR=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil || !strings.Contains(string(out), "dry run") {
		return 0, fmt.Errorf("kubectl-promote %s: %v (want \"dry run\" in the output)\n%s", strings.Join(b.args[1:], " "), err, out)
	}
	return elapsed, nil
}

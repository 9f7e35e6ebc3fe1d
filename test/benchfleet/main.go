// Command benchfleet measures the fleet promotion's own overhead and the fleet
// status on a real control plane running real Flux, with the fleet repository on a
// real Git server. Twenty clusters with Flux do not fit in this machine's memory, so:
//
//   - the targets are N environments (100 by default) in one shared cluster, one
//     apps-<env> Kustomization each on an overlay of its own, plus staging, the
//     source. Every round runs the built plugin as a user would, without --wait, so
//     what is timed is the tool's work alone: reading the source and targets, the
//     gates, the clone, the plans, the commit, the push and the announcement (Flux's
//     applying the commit is excluded). One target (the single promotion, --to X)
//     is compared with all N as one wave (--to X1,...,XN); before every round the
//     targets' overlays are reset with a commit and Flux is let settle, so each
//     round promotes the same change from the same state. --force keeps a gate
//     that catches Flux mid-reconcile from ending a round early (every gate is still
//     read).
//   - status over N clusters is `status --contexts 'c-*' --kustomization apps-env-00`
//     through a kubeconfig with N contexts (c-00 ... c-NN), each its own client and
//     connection, all pointing at the one plane.
//
// It prints each round and the medians, and fails when the targets are missed:
// N targets at most 1.5× one target, status over N clusters at most 2 s.
//
// Run from test/: go run ./benchfleet [-rounds 5] [-targets 100] (make bench-fleet).
package main

import (
	"bytes"
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

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

func main() {
	rounds := flag.Int("rounds", 5, "Measured rounds of each scenario")
	targets := flag.Int("targets", 100, "Targets (Kustomizations) of the fleet, and contexts of the status")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rounds, *targets); err != nil {
		fmt.Fprintf(os.Stderr, "benchfleet: %v\n", err)
		stop()
		os.Exit(1)
	}
}

type bench struct {
	f         *fleet.Fleet
	bin, home string
	envs      []string // the targets
}

func run(ctx context.Context, rounds, n int) error {
	if rounds < 1 || n < 2 {
		return fmt.Errorf("-rounds must be at least 1 and -targets at least 2")
	}
	planeDir, err := plane.BinDir("")
	if err != nil {
		return err
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kubectl-promote-benchfleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{bin: filepath.Join(work, "bin"), home: filepath.Join(work, "home")}
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

	o := seed.Options{Envs: []seed.Env{{Name: "staging", Images: map[string]string{seed.MyAppImage: "1.1.0", seed.RedisImage: "7.2.5"}}}}
	for i := 0; i < n; i++ {
		env := fmt.Sprintf("env-%02d", i)
		o.Envs = append(o.Envs, seed.Env{Name: env})
		b.envs = append(b.envs, env)
	}
	f, err := fleet.Start(ctx, fleet.Options{Dir: filepath.Join(work, "fleet"), Seed: o, Shared: true, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer f.Stop()
	b.f = f

	from := f.AppsRef("staging")
	one := []string{"promote", "--from", from, "--to", f.AppsRef(b.envs[0])}
	var all []string
	for _, env := range b.envs {
		all = append(all, f.AppsRef(env))
	}
	many := []string{"promote", "--from", from, "--to", strings.Join(all, ",")}
	var single, fleetTimes []time.Duration
	for i := 0; i < rounds+1; i++ {
		for _, s := range []struct {
			args []string
			into *[]time.Duration
		}{{one, &single}, {many, &fleetTimes}} {
			if err := b.reset(ctx); err != nil {
				return err
			}
			d, err := b.time(ctx, f.Kubeconfig, append(s.args, "--yes", "--force", "--author", "Bench <bench@example.com>", "-o", "json"), `"outcome": "promoted"`)
			if err != nil {
				return err
			}
			if i == 0 {
				continue // warm-up
			}
			*s.into = append(*s.into, d)
			fmt.Printf("  round %d, %2d target(s): %6.0f ms\n", i, len(strings.Split(s.args[len(s.args)-1], ",")), ms(d))
		}
	}
	if err := b.reset(ctx); err != nil {
		return err
	}

	// Status over n contexts, all on the one plane.
	kubeconfig := filepath.Join(work, "contexts.kubeconfig")
	var contexts []plane.Context
	for i := 0; i < n; i++ {
		contexts = append(contexts, plane.Context{Name: fmt.Sprintf("c-%02d", i), Plane: f.Plane("staging")})
	}
	if err := plane.WriteKubeconfig(kubeconfig, contexts...); err != nil {
		return err
	}
	_, apps := f.Kustomizations(b.envs[0])
	statusArgs := []string{"status", "--contexts", "c-*", "--kustomization", apps.Name, "-o", "json"}
	var status []time.Duration
	for i := 0; i < rounds+2; i++ {
		d, err := b.time(ctx, kubeconfig, statusArgs, `"sourceLag": 0`)
		if err != nil {
			return err
		}
		if i >= 2 {
			status = append(status, d)
			fmt.Printf("  status round %d, %d contexts: %6.0f ms\n", i-1, n, ms(d))
		}
	}

	s1, sn, st := timing.Median(single), timing.Median(fleetTimes), timing.Median(status)
	fmt.Println()
	fmt.Printf("kubectl promote without --wait (read, gates, clone, plan, commit, push, announce), median of %d rounds:\n", rounds)
	fmt.Printf("  1 target:   %6.0f ms\n", ms(s1))
	fmt.Printf("  %d targets: %6.0f ms  (%.2f× one target; target ≤ 1.5×)\n", n, ms(sn), float64(sn)/float64(s1))
	fmt.Printf("kubectl promote status over %d contexts (one Kustomization each): median %6.0f ms (target ≤ 2000 ms)\n", n, ms(st))
	var failed []string
	if 2*sn > 3*s1 {
		failed = append(failed, fmt.Sprintf("%d targets took %.2f× one target", n, float64(sn)/float64(s1)))
	}
	if st > 2000*time.Millisecond {
		failed = append(failed, fmt.Sprintf("status over %d contexts took %.0f ms", n, ms(st)))
	}
	if len(failed) > 0 {
		return fmt.Errorf("targets missed: %s", strings.Join(failed, "; "))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// time runs the plugin once and checks that its output contains want.
func (b *bench) time(ctx context.Context, kubeconfig string, args []string, want string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "kubectl-promote"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+b.home, "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil || !strings.Contains(stdout.String(), want) {
		return 0, fmt.Errorf("kubectl-promote %s: %v (want %s in the output)\n%s%s", strings.Join(args, " "), err, want, stdout.String(), stderr.String())
	}
	return elapsed, nil
}

// reset puts every target's overlay back to the seed's (when a round changed it)
// and waits until Flux has applied the branch head everywhere.
func (b *bench) reset(ctx context.Context) error {
	seedDir := filepath.Join(b.f.Opts.Dir, "seed")
	changed := false
	sha, err := b.f.Commit("bench: reset the targets", func(dir string) error {
		for _, env := range b.envs {
			p := filepath.Join("apps", env, "kustomization.yaml")
			want, err := os.ReadFile(filepath.Join(seedDir, p))
			if err != nil {
				return err
			}
			got, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				return err
			}
			if !bytes.Equal(want, got) {
				changed = true
				if err := os.WriteFile(filepath.Join(dir, p), want, 0o644); err != nil {
					return err
				}
			}
		}
		if !changed { // keep the commit non-empty: a README line
			return os.WriteFile(filepath.Join(dir, "README.md"), []byte(fmt.Sprintf("# fleet-infra\n\n%d\n", time.Now().UnixNano())), 0o644)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, env := range append([]string{"staging"}, b.envs...) {
		if err := b.f.Reconcile(ctx, env); err != nil {
			return err
		}
	}
	for _, env := range append([]string{"staging"}, b.envs...) {
		if err := b.f.Settle(ctx, env, sha); err != nil {
			return fmt.Errorf("settle %s: %w", env, err)
		}
	}
	return nil
}

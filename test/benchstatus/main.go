// Command benchstatus measures how long `kubectl promote status` takes on real
// control planes running real Flux, with the fleet repository on a real Git server:
//
//   - 2 environments in 2 clusters (the seed: staging and production, Kustomization
//     "apps" in each);
//   - N environments (20 by default) in one shared cluster, one apps-<env>
//     Kustomization each, every environment one my-app version behind the one before.
//
// Every round runs the built plugin as a user would (a fresh process: kubeconfig,
// API reads, a clone of the repository, a render per environment at its applied
// revision, the Git log for the last promotion), after warm-up rounds so the
// discovery cache and the OS caches are warm. It prints each round, the median, min
// and max, and the time through kubectl's plugin discovery; it asserts nothing about
// time (the target is a median of at most 1 s for 20 environments), only that every
// round exits 0 and reports every environment Ready without errors.
//
// Run from test/: go run ./benchstatus [-rounds 10] [-envs 20] (make bench-status).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

func main() {
	rounds := flag.Int("rounds", 10, "Measured rounds of each scenario")
	warmup := flag.Int("warmup", 2, "Unmeasured rounds before them")
	envs := flag.Int("envs", 20, "Environments of the shared-cluster scenario")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rounds, *warmup, *envs); err != nil {
		fmt.Fprintf(os.Stderr, "benchstatus: %v\n", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, rounds, warmup, envs int) error {
	if rounds < 1 || envs < 2 {
		return fmt.Errorf("-rounds must be at least 1 and -envs at least 2")
	}
	planeDir, err := plane.BinDir("")
	if err != nil {
		return err
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kubectl-promote-benchstatus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "bin")
	home := filepath.Join(work, "home")
	for _, d := range []string{bin, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, "kubectl-promote"), "./cmd/kubectl-promote")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the plugin: %v\n%s", err, out)
	}
	if err := os.Symlink(filepath.Join(planeDir, "kubectl"), filepath.Join(bin, "kubectl")); err != nil {
		return err
	}
	b := bench{bin: bin, home: home, rounds: rounds, warmup: warmup}

	// 2 environments, 2 clusters.
	f, err := fleet.Start(ctx, fleet.Options{Dir: filepath.Join(work, "two"), Progress: os.Stderr})
	if err != nil {
		return err
	}
	two, err := b.scenario(ctx, f, fmt.Sprintf("2 environments in 2 clusters (%s)", strings.Join(f.Envs, ", ")),
		append([]string{"status"}, append(f.Envs, "--kustomization", "apps")...), len(f.Envs))
	f.Stop()
	if err != nil {
		return err
	}

	// N environments, one shared cluster.
	o := seed.Options{}
	for i := 0; i < envs; i++ {
		// Each environment runs an older my-app than the one before it, so status
		// has drift to compute everywhere.
		o.Envs = append(o.Envs, seed.Env{Name: fmt.Sprintf("env-%02d", i), Replicas: 1,
			Images: map[string]string{seed.MyAppImage: fmt.Sprintf("1.%d.0", envs-i), seed.RedisImage: "7.2.5"}})
	}
	f, err = fleet.Start(ctx, fleet.Options{Dir: filepath.Join(work, "shared"), Seed: o, Shared: true, Progress: os.Stderr})
	if err != nil {
		return err
	}
	args := []string{"status"}
	for _, env := range f.Envs {
		args = append(args, f.AppsRef(env))
	}
	many, err := b.scenario(ctx, f, fmt.Sprintf("%d environments (Kustomizations) in 1 shared cluster", envs), args, envs)
	f.Stop()
	if err != nil {
		return err
	}

	fmt.Println()
	fmt.Printf("kubectl promote status, median of %d rounds after %d warm-up rounds:\n", rounds, warmup)
	for _, s := range []summary{two, many} {
		fmt.Printf("  %-50s %s\n", s.name, s)
	}
	fmt.Println("  (target: a median of at most 1 s for 20 environments with warm caches; nothing is asserted about time)")
	return nil
}

type bench struct {
	bin, home      string
	rounds, warmup int
}

type summary struct {
	name                   string
	median, min, max, viaK time.Duration
}

func (s summary) String() string {
	return fmt.Sprintf("median %6.0f ms  (min %.0f, max %.0f; through kubectl %.0f ms)",
		ms(s.median), ms(s.min), ms(s.max), ms(s.viaK))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// scenario runs status with args warmup+rounds times as kubectl-promote and rounds
// times as kubectl promote, checking each output.
func (b bench) scenario(ctx context.Context, f *fleet.Fleet, name string, args []string, envs int) (summary, error) {
	fmt.Printf("\n%s: kubectl promote %s\n", name, strings.Join(args, " "))
	s := summary{name: name}
	// Flux may still be finishing a reconcile the fleet's start-up asked for: wait
	// until every environment is Ready before the first round.
	settle, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		_, err := b.status(settle, f, filepath.Join(b.bin, "kubectl-promote"), args, envs)
		if err == nil {
			break
		}
		select {
		case <-settle.Done():
			return s, fmt.Errorf("environments never all Ready: %v", err)
		case <-time.After(time.Second):
		}
	}
	var direct, viaK []time.Duration
	for i := 0; i < b.warmup+b.rounds; i++ {
		d, err := b.status(ctx, f, filepath.Join(b.bin, "kubectl-promote"), args, envs)
		if err != nil {
			return s, err
		}
		if i < b.warmup {
			fmt.Printf("  warm-up %d: %6.0f ms\n", i+1, ms(d))
			continue
		}
		direct = append(direct, d)
		fmt.Printf("  round %2d:  %6.0f ms\n", i-b.warmup+1, ms(d))
	}
	for i := 0; i < b.rounds; i++ {
		d, err := b.status(ctx, f, filepath.Join(b.bin, "kubectl"), append([]string{"promote"}, args...), envs)
		if err != nil {
			return s, err
		}
		viaK = append(viaK, d)
	}
	s.median, s.min, s.max = timing.Median(direct), slices.Min(direct), slices.Max(direct)
	s.viaK = timing.Median(viaK)
	fmt.Printf("  %s\n", s)
	return s, nil
}

// status runs one `status -o json` and checks that it reports envs environments,
// every one Ready and read without error.
func (b bench) status(ctx context.Context, f *fleet.Fleet, exe string, args []string, envs int) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, exe, append(args, "-o", "json")...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+f.Kubeconfig, "HOME="+b.home, "NO_COLOR=1",
		"PATH="+b.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s%s", exe, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	var rep struct {
		Environments []struct {
			Name   string `json:"name"`
			Ready  bool   `json:"ready"`
			Error  string `json:"error"`
			Images []struct {
				App string `json:"app"`
			} `json:"images"`
		} `json:"environments"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return 0, fmt.Errorf("status output: %v\n%s", err, stdout.String())
	}
	if len(rep.Environments) != envs {
		return 0, fmt.Errorf("status reported %d environments, want %d", len(rep.Environments), envs)
	}
	for _, e := range rep.Environments {
		if !e.Ready || e.Error != "" || len(e.Images) == 0 {
			return 0, fmt.Errorf("status of %s: ready=%v error=%q images=%d", e.Name, e.Ready, e.Error, len(e.Images))
		}
	}
	return elapsed, nil
}

// Command benchfleet measures the fleet promotion's own overhead and the fleet
// status on a real control plane running real Flux, with the fleet repository on a
// real Git server. A hundred clusters with Flux do not fit in this machine's memory,
// so the targets are N environments (100 by default) in one shared cluster, one
// apps-<env> Kustomization each (with its infrastructure-<env> in dependsOn) on an
// overlay of its own, plus staging, the source. Flux applies the first commit
// everywhere, then:
//
//   - status over N clusters: `status --contexts 'c-*' --kustomization apps-env-00`
//     through a kubeconfig with N contexts (c-00 ... c-NN), each its own client and
//     connection, all pointing at the one plane. Then the same with one context
//     replaced by c-dead, an API server that takes connections and never answers:
//     the run must end after the per-context timeout with exactly one error line, the
//     dead context's, and the other N-1 reported.
//   - the promotion: one target (--to X) against all N as one wave (--to X1,...,XN),
//     alternately, from the same state: every round first commits the targets'
//     overlays back to the seed's (staging runs images they lack). The built plugin
//     runs as a user would, without --wait, so what is timed is the tool's work alone:
//     reading the source and targets, the gates, the clone, the plans, the commit,
//     the push and the announcement. Flux's applying the commit is not the tool's
//     work, and on this one machine it would be a hundred clusters' work: for these
//     rounds kustomize-controller is stopped (source-controller still fetches what
//     each announcement asks for), so no round is timed while Flux applies the one
//     before, and no round waits for it. The tool reads the statuses real Flux wrote;
//     those say the targets applied an older commit than their branch's head, so the
//     target-dependencies gate fails and --force goes on anyway (every gate is still
//     read, and the promotion commits as it would).
//
// It prints each round and the medians, and fails when the targets are missed:
// N targets at most 1.5× one target, status over N clusters at most 2 s.
//
// Run from test/: go run ./benchfleet [-rounds 5] [-targets 100] (make bench-fleet).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

func main() {
	rounds := flag.Int("rounds", 5, "Measured rounds of each scenario")
	targets := flag.Int("targets", 100, "Targets (Kustomizations) of the fleet, and contexts of the status")
	keep := flag.Bool("keep", false, "Measure nothing: start the fleet, print how to run the scenarios on it by hand (to profile them) and wait for Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rounds, *targets, *keep); err != nil {
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

func run(ctx context.Context, rounds, n int, keep bool) error {
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
	if keep {
		return b.keep(ctx, work)
	}

	st, dead, err := b.status(ctx, work, rounds)
	if err != nil {
		return err
	}
	// Flux's applying the promotions is not measured, and would load the machine
	// while the next round is timed.
	if err := f.Plane("staging").StopComponent(plane.KustomizeController); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "► kustomize-controller stopped for the promotion rounds")
	s1, sn, err := b.promotions(ctx, rounds)
	if err != nil {
		return err
	}

	fmt.Println()
	fmt.Printf("kubectl promote without --wait (read, gates, clone, plan, commit, push, announce), median of %d rounds:\n", rounds)
	fmt.Printf("  1 target:   %6.0f ms\n", ms(s1))
	fmt.Printf("  %d targets: %6.0f ms  (%.2f× one target; target ≤ 1.5×)\n", n, ms(sn), float64(sn)/float64(s1))
	fmt.Printf("kubectl promote status over %d contexts (one Kustomization each): median %6.0f ms (target ≤ 2000 ms)\n", n, ms(st))
	fmt.Printf("  with one of them dead (never answers): %6.0f ms, one error line, the %d others reported\n", ms(dead), n-1)
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

// keep prints how to run the scenarios on the fleet and waits for ctx to end.
func (b *bench) keep(ctx context.Context, work string) error {
	contexts := filepath.Join(work, "contexts.kubeconfig")
	var cs []plane.Context
	for i := range b.envs {
		cs = append(cs, plane.Context{Name: fmt.Sprintf("c-%02d", i), Plane: b.f.Plane("staging")})
	}
	if err := plane.WriteKubeconfig(contexts, cs...); err != nil {
		return err
	}
	var refs []string
	for _, env := range b.envs {
		refs = append(refs, b.f.AppsRef(env))
	}
	_, apps := b.f.Kustomizations(b.envs[0])
	if err := b.f.Plane("staging").StopComponent(plane.KustomizeController); err != nil {
		return err
	}
	fmt.Printf("The fleet is up (Ctrl-C stops it), kustomize-controller stopped as for the promotion rounds.\n")
	fmt.Printf("  export PATH=%s:$PATH HOME=%s\n", b.bin, b.home)
	fmt.Printf("  KUBECONFIG=%s kubectl promote --from %s --to %s --yes --force\n", b.f.Kubeconfig, b.f.AppsRef("staging"), refs[0])
	fmt.Printf("  KUBECONFIG=%s kubectl promote --from %s --to %s --yes --force\n", b.f.Kubeconfig, b.f.AppsRef("staging"), strings.Join(refs, ","))
	fmt.Printf("  KUBECONFIG=%s kubectl promote status --contexts 'c-*' --kustomization %s\n", contexts, apps.Name)
	fmt.Printf("  # to reset the targets' overlays between promotions:\n")
	fmt.Printf("  git clone -q %s %s/reset && cd %s/reset && git checkout %s -- apps && git commit -qam reset && git push -q && cd -\n",
		b.f.RepoDir(), work, work, b.f.Initial)
	<-ctx.Done()
	return nil
}

// promotions times rounds of one target and of every target, alternately, after a
// warm-up round of each, and returns their medians.
func (b *bench) promotions(ctx context.Context, rounds int) (one, all time.Duration, err error) {
	from := b.f.AppsRef("staging")
	var refs []string
	for _, env := range b.envs {
		refs = append(refs, b.f.AppsRef(env))
	}
	scenarios := []struct {
		to    string
		times []time.Duration
	}{{to: refs[0]}, {to: strings.Join(refs, ",")}}
	for i := 0; i < rounds+1; i++ {
		for si := range scenarios {
			s := &scenarios[si]
			if err := b.reset(); err != nil {
				return 0, 0, err
			}
			args := []string{"promote", "--from", from, "--to", s.to, "--yes", "--force", "--author", "Bench <bench@example.com>", "-o", "json"}
			d, out, err := b.time(ctx, b.f.Kubeconfig, args)
			if err == nil && !strings.Contains(out.stdout, `"outcome": "promoted"`) {
				err = fmt.Errorf("not promoted")
			}
			if err != nil {
				return 0, 0, out.fail(args, err)
			}
			if i == 0 {
				continue // warm-up
			}
			s.times = append(s.times, d)
			fmt.Printf("  round %d, %3d target(s): %6.0f ms\n", i, len(strings.Split(s.to, ",")), ms(d))
		}
	}
	return timing.Median(scenarios[0].times), timing.Median(scenarios[1].times), nil
}

// status times `status --contexts 'c-*'` over n contexts of the one plane, after two
// warm-up rounds, and then once with one context dead; it returns the median and
// the time with the dead context.
func (b *bench) status(ctx context.Context, work string, rounds int) (median, dead time.Duration, err error) {
	p := b.f.Plane("staging")
	var contexts []plane.Context
	for i := range b.envs {
		contexts = append(contexts, plane.Context{Name: fmt.Sprintf("c-%02d", i), Plane: p})
	}
	live := filepath.Join(work, "contexts.kubeconfig")
	if err := plane.WriteKubeconfig(live, contexts...); err != nil {
		return 0, 0, err
	}
	_, apps := b.f.Kustomizations(b.envs[0])
	args := []string{"status", "--contexts", "c-*", "--kustomization", apps.Name, "-o", "json"}
	var times []time.Duration
	for i := 0; i < rounds+2; i++ {
		d, out, err := b.time(ctx, live, args)
		if err == nil {
			err = reported(out.stdout, len(b.envs))
		}
		if err != nil {
			return 0, 0, out.fail(args, err)
		}
		if i >= 2 {
			times = append(times, d)
			fmt.Printf("  status round %d, %d contexts: %6.0f ms\n", i-1, len(b.envs), ms(d))
		}
	}

	withDead := filepath.Join(work, "dead.kubeconfig")
	if err := writeWithDead(ctx, withDead, contexts[1:]); err != nil {
		return 0, 0, err
	}
	d, out, err := b.time(ctx, withDead, args)
	line, err := deadReported(out, err, len(b.envs)-1)
	if err != nil {
		return 0, 0, out.fail(args, err)
	}
	fmt.Printf("  status, %d contexts of which c-dead never answers: %6.0f ms, exit code 1, stderr: %s\n", len(b.envs), ms(d), line)
	return timing.Median(times), d, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// output is what one run of the plugin printed.
type output struct{ stdout, stderr string }

// fail is err of the run of args, with what it printed.
func (o output) fail(args []string, err error) error {
	return fmt.Errorf("kubectl-promote %s: %v\n%s%s", strings.Join(args, " "), err, o.stdout, o.stderr)
}

// time runs the plugin once with kubeconfig and returns how long it took.
func (b *bench) time(ctx context.Context, kubeconfig string, args []string) (time.Duration, output, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "kubectl-promote"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+b.home, "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	return time.Since(start), output{stdout.String(), stderr.String()}, err
}

// reported checks that a Status document lists n environments, each Ready and
// without lag behind its source.
func reported(doc string, n int) error {
	var st v1alpha1.Status
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		return err
	}
	if len(st.Environments) != n {
		return fmt.Errorf("%d environments reported, want %d", len(st.Environments), n)
	}
	for _, e := range st.Environments {
		if !e.Ready || e.SourceLag == nil || *e.SourceLag != 0 {
			return fmt.Errorf("context %s: not Ready at its source's revision", e.Context)
		}
	}
	return nil
}

// deadReported checks the run of status with c-dead among the contexts: exit code 1,
// one error line on stderr, c-dead's, and the n others reported.
func deadReported(out output, err error, n int) (string, error) {
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		return "", fmt.Errorf("want exit code 1, got %v", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out.stderr), "\n") {
		if strings.HasPrefix(l, "✗") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "context c-dead: the API server did not answer within") {
		return "", fmt.Errorf("want one error line, c-dead's; got %q", lines)
	}
	return lines[0], reported(out.stdout, n)
}

// writeWithDead writes a kubeconfig with contexts and c-dead, an API server on
// loopback that takes connections and never answers (not even the TLS handshake),
// which lives as long as ctx.
func writeWithDead(ctx context.Context, path string, contexts []plane.Context) error {
	cfg, err := plane.Kubeconfig(contexts...)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-ctx.Done(); c.Close() }() // held open, never answered
		}
	}()
	cfg.Clusters["dead"] = &clientcmdapi.Cluster{Server: "https://" + l.Addr().String(), InsecureSkipTLSVerify: true}
	cfg.Contexts["c-dead"] = &clientcmdapi.Context{Cluster: "dead", AuthInfo: cfg.Contexts[contexts[0].Name].AuthInfo}
	return clientcmd.WriteToFile(*cfg, path)
}

// reset commits every target's overlay back to the seed's when a round changed it.
// Nothing waits for Flux: the promotion reads the overlays from Git, and the
// targets' Flux objects as real Flux left them.
func (b *bench) reset() error {
	seedDir := filepath.Join(b.f.Opts.Dir, "seed")
	_, err := b.f.Commit("bench: reset the targets", func(dir string) error {
		for _, env := range b.envs {
			p := filepath.Join("apps", env, "kustomization.yaml")
			want, err := os.ReadFile(filepath.Join(seedDir, p))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, p), want, 0o644); err != nil {
				return err
			}
		}
		// Keep the commit non-empty before the first round: a README line.
		return os.WriteFile(filepath.Join(dir, "README.md"), []byte(fmt.Sprintf("# fleet-infra\n\n%d\n", time.Now().UnixNano())), 0o644)
	})
	return err
}

// Command bench measures how long a promotion takes to be applied by Flux in
// production, with `kubectl promote --wait` against the baseline a user has without
// it: push the same change, annotate the GitRepository and the Kustomizations with
// reconcile.fluxcd.io/requestedAt (what `flux reconcile ks --with-source` does) and
// poll until production has applied it.
//
// Both run on the seed layout (apps dependsOn infrastructure, wait, health checks) in
// two real clusters whose infrastructure needs 5 s to become healthy. It prints each
// round, the medians and the ratio; it asserts nothing about time.
//
// It also prints the median time from the start of `kubectl promote` to its
// "✔ pushed" line (the tool's own work: reading both clusters, the fetch, the plan,
// the commit and the push; the goal is 0.5 s). -timeline prints every progress line
// of each promotion with its time since the start, and -cpuprofile DIR has the plugin
// write a CPU profile of each promotion there (KUBECTL_PROMOTE_CPUPROFILE), to see
// where that time goes.
//
// Run from test/: go run ./bench [-rounds 3] [-timeline] [-cpuprofile DIR] (make bench-e2e).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

func main() {
	rounds := flag.Int("rounds", 3, "Rounds of each method")
	infraDelay := flag.Duration("infra-delay", 5*time.Second, "How long infrastructure pods take to become Ready")
	flag.BoolVar(&timeline, "timeline", false, "Print every progress line of each promotion with its time since the start")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "Directory the plugin writes a CPU profile of each promotion into")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rounds, *infraDelay); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		stop()
		os.Exit(1)
	}
}

var (
	timeline   bool
	cpuProfile string
)

func run(ctx context.Context, rounds int, infraDelay time.Duration) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	if _, err := plane.BinDir(""); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kubectl-promote-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, "kubectl-promote"), "./cmd/kubectl-promote")
	build.Dir, build.Stderr = root, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build the plugin: %w", err)
	}
	planeDir, _ := plane.BinDir("")
	if err := os.Symlink(filepath.Join(planeDir, "kubectl"), filepath.Join(bin, "kubectl")); err != nil {
		return err
	}
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Bench\n\temail = bench@example.invalid\n"), 0o644); err != nil {
		return err
	}

	f, err := fleet.Start(ctx, fleet.Options{
		Dir:      filepath.Join(work, "fleet"),
		Seed:     seed.Options{InfraPodAnnotations: map[string]string{plane.ReadyDelayAnnotation: infraDelay.String()}},
		Progress: os.Stderr,
	})
	if err != nil {
		return err
	}
	defer f.Stop()
	env := append(os.Environ(), "KUBECONFIG="+f.Kubeconfig, "HOME="+home, "NO_COLOR=1",
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	if cpuProfile != "" {
		env = append(env, "KUBECTL_PROMOTE_CPUPROFILE="+cpuProfile)
	}
	var ours, baseline, pushed []time.Duration
	for i := range rounds {
		// Set-up (not measured): staging runs a version production does not.
		version := fmt.Sprintf("2.%d.0", i)
		sha, err := f.Commit("staging: my-app "+version, setTag("apps/staging/kustomization.yaml", version))
		if err != nil {
			return err
		}
		if err := f.Reconcile(ctx, "staging"); err != nil {
			return err
		}
		if err := f.Settle(ctx, "staging", sha); err != nil {
			return err
		}

		// (a) kubectl promote --wait.
		lines, d, err := promote(ctx, env)
		if err != nil {
			return err
		}
		p, ok := lines.at("✔ pushed")
		if !ok {
			return fmt.Errorf("kubectl promote printed no \"✔ pushed\" line:\n%s", lines)
		}
		pushed = append(pushed, p)
		if timeline {
			fmt.Fprint(os.Stderr, lines)
		}
		head, err := f.Head()
		if err != nil {
			return err
		}
		if err := f.WaitApplied(ctx, "production", head, time.Second); err != nil {
			return fmt.Errorf("kubectl promote returned before production applied: %w", err)
		}
		ours = append(ours, d)
		fmt.Fprintf(os.Stderr, "round %d: kubectl promote --wait   %6.1f s (pushed after %.2f s)\n", i+1, d.Seconds(), p.Seconds())

		// (b) baseline: the same kind of change pushed by hand, then reconcile requests
		// on the GitRepository and both Kustomizations, then poll.
		manual := fmt.Sprintf("3.%d.0", i)
		start := time.Now()
		sha, err = f.Commit("production: my-app "+manual, setTag("apps/production/kustomization.yaml", manual))
		if err != nil {
			return err
		}
		if err := f.Reconcile(ctx, "production"); err != nil {
			return err
		}
		if err := f.WaitApplied(ctx, "production", sha, 5*time.Minute); err != nil {
			return err
		}
		d = time.Since(start)
		baseline = append(baseline, d)
		fmt.Fprintf(os.Stderr, "round %d: push + reconcile + poll  %6.1f s\n", i+1, d.Seconds())
	}
	mo, mb := timing.Median(ours), timing.Median(baseline)
	fmt.Printf("\nlatency from promotion start to production applied (seed layout, infrastructure %s to become healthy, %d rounds)\n", infraDelay, rounds)
	fmt.Printf("BenchmarkPromoteWait      %d  %12.0f ns/op  median %.1f s\n", rounds, float64(mo), mo.Seconds())
	fmt.Printf("BenchmarkPushReconcile    %d  %12.0f ns/op  median %.1f s\n", rounds, float64(mb), mb.Seconds())
	fmt.Printf("ratio baseline/ours: %.1fx (target >= 3x)\n", mb.Seconds()/mo.Seconds())
	mp := timing.Median(pushed)
	fmt.Printf("BenchmarkPromoteToPushed  %d  %12.0f ns/op  median %.2f s (target <= 0.5 s)\n", rounds, float64(mp), mp.Seconds())
	return nil
}

// promote runs `kubectl promote --wait` of my-app from staging to production, and
// returns its output lines, each with its time since the start, and how long it took.
func promote(ctx context.Context, env []string) (timedLines, time.Duration, error) {
	cmd := exec.CommandContext(ctx, "kubectl", "promote", "apps", "--from", "staging", "--to", "production",
		"--app", "my-app", "--wait", "--yes")
	cmd.Env = env
	r, w, err := os.Pipe()
	if err != nil {
		return nil, 0, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, 0, err
	}
	var lines timedLines
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, timedLine{time.Since(start), sc.Text()})
	}
	r.Close()
	err = cmd.Wait()
	d := time.Since(start)
	if err != nil {
		return nil, 0, fmt.Errorf("kubectl promote: %w\n%s", err, lines)
	}
	return lines, d, nil
}

// timedLine is one line of output and when it came, since the command's start.
type timedLine struct {
	at   time.Duration
	text string
}

type timedLines []timedLine

// at is when the first line containing s came.
func (ls timedLines) at(s string) (time.Duration, bool) {
	for _, l := range ls {
		if strings.Contains(l.text, s) {
			return l.at, true
		}
	}
	return 0, false
}

func (ls timedLines) String() string {
	var b bytes.Buffer
	for _, l := range ls {
		fmt.Fprintf(&b, "  %6.3f s  %s\n", l.at.Seconds(), l.text)
	}
	return b.String()
}

var myAppTag = regexp.MustCompile(`(?m)(- name: ` + regexp.QuoteMeta(seed.MyAppImage) + `\n\s+newTag: )"?[^"\n]*"?`)

// setTag sets my-app's tag in an overlay's images: list, adding the entry if absent.
func setTag(path, tag string) func(dir string) error {
	return func(dir string) error {
		p := filepath.Join(dir, path)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(data)
		switch {
		case myAppTag.MatchString(s):
			s = myAppTag.ReplaceAllString(s, `${1}"`+tag+`"`)
		case strings.Contains(s, "\nimages:\n"):
			s = strings.Replace(s, "\nimages:\n", "\nimages:\n  - name: "+seed.MyAppImage+"\n    newTag: \""+tag+"\"\n", 1)
		default:
			s += "images:\n  - name: " + seed.MyAppImage + "\n    newTag: \"" + tag + "\"\n"
		}
		return os.WriteFile(p, []byte(s), 0o644)
	}
}

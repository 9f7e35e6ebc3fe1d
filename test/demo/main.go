// Command demo is `make demo`: it builds kubectl-promote and the test control plane
// (cached after the first time), starts real clusters running real Flux on the
// seed's fleet-infra repository served by a real Git server, and promotes staging's
// versions onwards with the real `kubectl promote --wait`, showing each step. Each
// scene is one run; `make demo` runs them all in turn.
//
// Run it from test/: go run ./demo. KEEP=1 keeps everything running afterwards and
// prints the export KUBECONFIG=... line to look around; Ctrl-C stops it.
//
// Without a flag, two clusters (staging, production) read a directory each of
// branch main, and the promotion edits production's overlay.
//
// With -branches (make demo-branches) each environment tracks a branch of its own
// (staging, production) and both read ./apps/staging: staging gets a new commit, and
// the promotion merges the commit staging applied into production's branch.
//
// With -tags (make demo-tags) production follows a semver range: the promotion
// releases its commit as the next version tag, which Flux selects; then production
// verifies tag signatures and the next promotion is signed (--sign-key). On new
// clusters, production then pins a tag (spec.ref.tag, in a gotk-sync.yaml): the
// promotion releases the next tag and moves the pin to it.
//
// With -fleet (make demo-fleet) four clusters (staging, prod-eu, prod-us-1 and
// prod-us-2) and one promotion in two waves: prod-eu first, the us region once
// prod-eu is healthy.
//
// With -policy (make demo-policy) two clusters again: a deny window around now on
// production's Kustomization blocks the promotion (the window gate, exit 3), --force
// pushes past it and the commit records it; then a promotion is verified after
// Ready against an HTTP server on loopback (--verify with a CEL expression).
//
// With -oci (make demo-oci), gitless: one cluster whose staging and production read
// OCIRepositories following tags of a registry on loopback; the promotion moves
// production's tag to the digest staging applied (no commit) and history reads the
// promotion record from the registry.
package main

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// The scenes other than the default one, one per run.
var (
	branches = flag.Bool("branches", false, "A branch per environment, same path: promote by merging the commit staging applied")
	tags     = flag.Bool("tags", false, "Production follows a semver range: promote by releasing a version tag, then a signed one; then production pins a tag")
	waves    = flag.Bool("fleet", false, "Four clusters: promote to prod-eu, then to prod-us-1 and prod-us-2, in two waves")
	policy   = flag.Bool("policy", false, "A deny window blocks the promotion, --force passes it; then a promotion verified after Ready over HTTP")
	ociScene = flag.Bool("oci", false, "Gitless: OCI artifacts in a registry; promote by moving production's tag to the digest staging applied")
)

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "✗ demo failed: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// bold is true when stdout is a terminal and NO_COLOR is not set.
var bold = func() bool {
	st, err := os.Stdout.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}()

func step(format string, args ...any) {
	if bold {
		fmt.Printf("\n\033[1m== "+format+"\033[0m\n", args...)
		return
	}
	fmt.Printf("\n== "+format+"\n", args...)
}

// demo is what every scene shares: a work directory, kubectl and the plugin built
// into bin (put first on PATH), and a HOME whose git config names the promoter.
type demo struct {
	work, bin, home string
	keep            bool
	began           time.Time
}

func run(ctx context.Context) error {
	n := 0
	for _, on := range []bool{*branches, *tags, *waves, *policy, *ociScene} {
		if on {
			n++
		}
	}
	if n > 1 {
		return errors.New("-branches, -tags, -fleet, -policy and -oci are separate scenes: pass one at a time (make demo runs them all)")
	}
	d := &demo{keep: os.Getenv("KEEP") != "", began: time.Now()}
	root, err := repoRoot()
	if err != nil {
		return err
	}

	step("Building the control plane binaries (etcd, Kubernetes, kwok, Flux) from Go modules")
	planeDir, err := planeBinaries(root)
	if err != nil {
		return err
	}
	os.Setenv("KUBECTL_PROMOTE_PLANE", planeDir)

	d.work, err = os.MkdirTemp("", "kubectl-promote-demo-")
	if err != nil {
		return err
	}
	if !d.keep {
		defer os.RemoveAll(d.work)
	}
	d.bin = filepath.Join(d.work, "bin")
	if err := os.MkdirAll(d.bin, 0o755); err != nil {
		return err
	}
	step("Building kubectl-promote")
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(d.bin, "kubectl-promote"), "./cmd/kubectl-promote")
	build.Dir, build.Stdout, build.Stderr = root, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/kubectl-promote: %w", err)
	}
	if err := os.Symlink(filepath.Join(planeDir, "kubectl"), filepath.Join(d.bin, "kubectl")); err != nil {
		return err
	}
	os.Setenv("PATH", d.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	d.home = filepath.Join(d.work, "home")
	if err := os.MkdirAll(d.home, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.home, ".gitconfig"), []byte("[user]\n\tname = Demo Promoter\n\temail = demo@example.invalid\n"), 0o644); err != nil {
		return err
	}
	switch {
	case *tags:
		return d.tags(ctx)
	case *waves:
		return d.fleet(ctx)
	case *policy:
		return d.policy(ctx)
	case *ociScene:
		return d.gitless(ctx)
	}
	return d.directories(ctx)
}

// start starts a fleet (in the work directory unless opts.Dir) with the
// infrastructure stand-ins taking 5 s to become Ready, and returns it with the
// environment kubectl runs in.
func (d *demo) start(ctx context.Context, opts fleet.Options) (*fleet.Fleet, []string, error) {
	fmt.Println("   infrastructure (cert-manager, ingress-nginx stand-ins) takes 5 s to become Ready; apps dependsOn it")
	if opts.Dir == "" {
		opts.Dir = filepath.Join(d.work, "fleet")
	}
	opts.Progress = os.Stdout
	opts.Seed.InfraPodAnnotations = map[string]string{plane.ReadyDelayAnnotation: "5s"}
	f, err := fleet.Start(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	return f, append(os.Environ(), "KUBECONFIG="+f.Kubeconfig, "HOME="+d.home), nil
}

// done ends a scene: the time it took and what Flux applied, then, with KEEP, the
// lines to look around with, until Ctrl-C.
func (d *demo) done(ctx context.Context, f *fleet.Fleet, applied string, try string) {
	step("Done in %s", time.Since(d.began).Round(time.Second))
	fmt.Println(applied)
	if d.keep {
		fmt.Printf("\nThe clusters keep running (Ctrl-C stops them). In another shell:\n\n")
		fmt.Printf("  export KUBECONFIG=%s\n  export PATH=%s:$PATH\n  %s\n\n", f.Kubeconfig, d.bin, try)
		<-ctx.Done()
		fmt.Println("stopping")
	}
}

// directories is the default scene, or with -branches the branch-per-environment one.
func (d *demo) directories(ctx context.Context) error {
	step("Starting two clusters (staging, production) with Flux, and a Git server with the seed repository")
	opts := fleet.Options{Seed: seed.Options{Envs: seed.DefaultEnvs()}}
	if *branches {
		fmt.Println("   a branch per environment: staging tracks branch staging, production branch production; both read ./apps/staging")
		opts.Branches = map[string]string{"staging": "staging", "production": "production"}
		opts.Customize = func(dir string) error {
			p := filepath.Join(dir, "clusters", "production", "apps.yaml")
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := strings.ReplaceAll(strings.ReplaceAll(string(data), "./apps/production", "./apps/staging"), "namespace: production", "namespace: staging")
			return os.WriteFile(p, []byte(s), 0o644)
		}
	}
	f, env, err := d.start(ctx, opts)
	if err != nil {
		return err
	}
	defer f.Stop()
	prodBranch := f.BranchOf("production")
	appNS := "production"
	if *branches {
		appNS = "staging"
		step("A new commit on branch staging: my-app 1.2.0, applied by staging")
		if err := newStagingVersion(ctx, f); err != nil {
			return err
		}
	}

	if err := runsWhere(ctx, env, f.Envs); err != nil {
		return err
	}
	if err := status(ctx, env, "staging", "production", "--kustomization", "apps"); err != nil {
		return fmt.Errorf("kubectl promote status: %w", err)
	}

	if *branches {
		step("kubectl promote apps --from staging --to production --dry-run (the plan: strategy, commits, rendered diff)")
		if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "production", "--dry-run"); err != nil {
			return fmt.Errorf("kubectl promote --dry-run: %w", err)
		}
	}
	step("kubectl promote apps --from staging --to production --wait --yes")
	before, _ := f.HeadOf(prodBranch)
	if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "production", "--wait", "--yes"); err != nil {
		return fmt.Errorf("kubectl promote: %w", err)
	}
	after, err := f.HeadOf(prodBranch)
	if err != nil {
		return err
	}
	if after == before {
		return errors.New("the promotion pushed no commit")
	}

	step("Production after the promotion")
	if err := kubectl(ctx, env, "--context", "production", "get", "deployments", "-n", appNS,
		"-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[*].image,READY:.status.readyReplicas,AVAILABLE:.status.availableReplicas"); err != nil {
		return err
	}

	step("The promotion commit on %s (git log -1)", prodBranch)
	msg, err := gitserver.Git(f.Git.Dir(fleet.Repo), "log", "-1", "--format=commit %H%nAuthor: %an <%ae>%nParents: %P%n%n%B", after)
	if err != nil {
		return err
	}
	fmt.Println(msg)
	if *branches {
		step("Branch production (git log --graph) and kubectl promote history production")
		graph, err := gitserver.Git(f.Git.Dir(fleet.Repo), "log", "--graph", "--oneline", prodBranch)
		if err != nil {
			return err
		}
		fmt.Println(graph)
		if err := kubectl(ctx, env, "promote", "history", "production", "--kustomization", "apps"); err != nil {
			return fmt.Errorf("kubectl promote history: %w", err)
		}
	}

	st, err := productionApps(ctx, f)
	if err != nil {
		return err
	}
	if st.LastAppliedRevision != f.RevisionIn("production", after) {
		return fmt.Errorf("production applied %s, not the promotion %s", st.LastAppliedRevision, f.RevisionIn("production", after))
	}
	d.done(ctx, f, fmt.Sprintf("Flux applied the promoted revision in production: %s (Ready=%s)", st.LastAppliedRevision, st.Ready),
		"kubectl promote status staging production --kustomization apps")
	return nil
}

// productionApps is the state of production's apps Kustomization.
func productionApps(ctx context.Context, f *fleet.Fleet) (fleet.KustomizationState, error) {
	_, apps := f.Kustomizations("production")
	return fleet.Kustomization(ctx, f.Client("production"), apps)
}

// history runs kubectl promote history for production's apps.
func history(ctx context.Context, env []string) error {
	if err := kubectl(ctx, env, "promote", "history", "production", "--kustomization", "apps"); err != nil {
		return fmt.Errorf("kubectl promote history: %w", err)
	}
	return nil
}

// runsWhere shows the Flux Kustomizations and Deployments of each context.
func runsWhere(ctx context.Context, env []string, contexts []string) error {
	step("What runs where, before the promotion")
	for _, name := range contexts {
		fmt.Printf("\n-- context %s --\n", name)
		if err := kubectl(ctx, env, "--context", name, "get", "kustomizations.kustomize.toolkit.fluxcd.io,deployments", "-A"); err != nil {
			return err
		}
	}
	fmt.Println()
	return nil
}

func kubectl(ctx context.Context, env []string, args ...string) error {
	fmt.Printf("$ kubectl %s\n", shellJoin(args))
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stdout
	return cmd.Run()
}

// shellJoin joins args as they would be typed in a shell: an argument with a space
// or a shell metacharacter is quoted.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		switch {
		case strings.Contains(a, "'") && !strings.ContainsAny(a, "$`\"\\!"):
			quoted[i] = `"` + a + `"`
		case a == "" || strings.ContainsAny(a, " '*?$&|;<>()[]{}!\"\\`"):
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		default:
			quoted[i] = a
		}
	}
	return strings.Join(quoted, " ")
}

// status runs `kubectl promote status ARGS`. Its exit 1 for an environment not Ready
// is shown, not fatal: right after a change Flux re-checks a Kustomization now and
// then (a dependency requeue firing after the fact), and status says so; what the
// scene proves is checked against the clusters themselves.
func status(ctx context.Context, env []string, args ...string) error {
	err := kubectl(ctx, env, append([]string{"promote", "status"}, args...)...)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		fmt.Println("   (status exits 1 while an environment is not Ready: Flux is re-checking it)")
		return nil
	}
	return err
}

// repoRoot is the directory holding cmd/kubectl-promote, found upwards from here.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cmd", "kubectl-promote")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the demo from inside the kubectl-promote repository (make demo)")
		}
		dir = parent
	}
}

// planeBinaries runs test/tools/build.sh (cached), or uses $KUBECTL_PROMOTE_PLANE.
func planeBinaries(root string) (string, error) {
	if dir, err := plane.BinDir(""); err == nil {
		fmt.Printf("   using %s\n", dir)
		return dir, nil
	}
	var out bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(root, "test", "tools", "build.sh"))
	cmd.Stdout, cmd.Stderr = &out, os.Stdout
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("test/tools/build.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return plane.BinDir(lines[len(lines)-1])
}

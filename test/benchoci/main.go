// Command benchoci measures how long an OCI promotion takes to be applied by Flux in
// production, with `kubectl promote --wait` against the scripted anchor a gitless
// user has without it: retag as `flux tag artifact` does (crane's Tag: GET the
// manifest, PUT it under the tag), annotate the OCIRepository and the Kustomization
// with reconcile.fluxcd.io/requestedAt (`flux reconcile source oci`, `flux
// reconcile ks`), and poll until production is Ready on the digest.
//
// One real cluster (real source- and kustomize-controller) and a registry on
// loopback; staging and production are namespaces whose OCIRepositories follow tags
// latest and production. It prints each round, the medians and the ratio; it
// asserts nothing about time.
//
// Run from test/: go run ./benchoci [-rounds 5] (make bench-oci).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/crane"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/internal/timing"
	"github.com/kubectl-promote/kubectl-promote/test/ocienv"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

func main() {
	rounds := flag.Int("rounds", 5, "Rounds of each method")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rounds); err != nil {
		fmt.Fprintf(os.Stderr, "benchoci: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// bench is the cluster, the registry and how to run kubectl against them.
type bench struct {
	c   client.Client
	reg *ociregistry.Registry
	env []string
}

func run(ctx context.Context, rounds int) error {
	work, err := os.MkdirTemp("", "kubectl-promote-benchoci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b, stopAll, err := setUp(ctx, work)
	if err != nil {
		return err
	}
	defer stopAll()
	var ours, anchor []time.Duration
	for i := range rounds {
		// Set-up (not measured): staging applies a version production does not run.
		d, err := b.stage(ctx, fmt.Sprintf("2.%d.0", i))
		if err != nil {
			return err
		}
		start := time.Now()
		cmd := exec.CommandContext(ctx, "kubectl", "promote", "--from", "staging/app", "--to", "production/app", "--wait", "--yes")
		cmd.Env = b.env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl promote: %w\n%s", err, out)
		}
		ours = append(ours, time.Since(start))
		if err := ocienv.Applied(ctx, b.c, "production", "production@"+d, time.Second); err != nil {
			return fmt.Errorf("kubectl promote returned before production applied: %w", err)
		}
		fmt.Fprintf(os.Stderr, "round %d: kubectl promote --wait                 %6.2f s\n", i+1, ours[i].Seconds())

		// The anchor: the next version staged the same way, then by hand.
		if d, err = b.stage(ctx, fmt.Sprintf("3.%d.0", i)); err != nil {
			return err
		}
		start = time.Now()
		if err := b.byHand(ctx, d); err != nil {
			return err
		}
		anchor = append(anchor, time.Since(start))
		fmt.Fprintf(os.Stderr, "round %d: tag + reconcile source, ks + poll      %6.2f s\n", i+1, anchor[i].Seconds())
	}
	mo, ma := timing.Median(ours), timing.Median(anchor)
	fmt.Printf("\nlatency from promotion start to production Ready on the digest (gitless, one cluster, %d rounds)\n", rounds)
	fmt.Printf("BenchmarkOCIPromoteWait        %d  %12.0f ns/op  median %.2f s\n", rounds, float64(mo), mo.Seconds())
	fmt.Printf("BenchmarkOCITagReconcileScript %d  %12.0f ns/op  median %.2f s\n", rounds, float64(ma), ma.Seconds())
	fmt.Printf("ratio anchor/ours: %.2fx\n", ma.Seconds()/mo.Seconds())
	return nil
}

// setUp starts the plane, the registry and both environments on version 1.0.0, and
// builds the plugin.
func setUp(ctx context.Context, work string) (*bench, func(), error) {
	bin := filepath.Join(work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, nil, err
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return nil, nil, err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, "kubectl-promote"), "./cmd/kubectl-promote")
	build.Dir, build.Stderr = root, os.Stderr
	if err := build.Run(); err != nil {
		return nil, nil, fmt.Errorf("build the plugin: %w", err)
	}
	planeDir, err := plane.BinDir("")
	if err != nil {
		return nil, nil, err
	}
	if err := os.Symlink(filepath.Join(planeDir, "kubectl"), filepath.Join(bin, "kubectl")); err != nil {
		return nil, nil, err
	}
	p, err := plane.Start(ctx, plane.Options{Name: "benchoci", Dir: filepath.Join(work, "plane")})
	if err != nil {
		return nil, nil, err
	}
	reg, err := ociregistry.Start(filepath.Join(work, "registry"), ociregistry.Options{})
	if err != nil {
		p.Stop()
		return nil, nil, err
	}
	stop := func() { _ = reg.Close(); p.Stop() }
	kubeconfig := filepath.Join(work, "kubeconfig")
	c, err := p.Client()
	if err == nil {
		err = plane.WriteKubeconfig(kubeconfig, plane.Context{Plane: p})
	}
	b := &bench{c: c, reg: reg, env: append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+work, "NO_COLOR=1",
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))}
	if err == nil {
		err = b.start(ctx)
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return b, stop, nil
}

// start puts both environments on version 1.0.0.
func (b *bench) start(ctx context.Context) error {
	d, err := ocienv.Push(ctx, b.reg, "1.0.0", "latest", "production")
	if err != nil {
		return err
	}
	for _, e := range []struct{ ns, tag string }{{"staging", "latest"}, {"production", "production"}} {
		if err := ocienv.Env(ctx, b.c, b.reg.URL("app"), e.ns, e.tag, true); err != nil {
			return err
		}
	}
	for _, ns := range []string{"staging", "production"} {
		if err := ocienv.Applied(ctx, b.c, ns, d, 2*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// stage pushes version as CI does (tag latest) and waits for staging to apply it.
func (b *bench) stage(ctx context.Context, version string) (string, error) {
	d, err := ocienv.Push(ctx, b.reg, version, "latest")
	if err != nil {
		return "", err
	}
	if err := ocienv.Reconcile(ctx, b.c, "staging", &sourcev1.OCIRepository{}); err != nil {
		return "", err
	}
	return d, ocienv.Applied(ctx, b.c, "staging", "latest@"+d, 2*time.Minute)
}

// byHand is the anchor: `flux tag artifact` (crane.Tag), then reconcile requests on
// the OCIRepository and the Kustomization, then polling until production is Ready
// on the digest.
func (b *bench) byHand(ctx context.Context, digest string) error {
	if err := crane.Tag(b.reg.Repository("app")+"@"+digest, "production", crane.Insecure, crane.WithContext(ctx)); err != nil {
		return err
	}
	if err := ocienv.Reconcile(ctx, b.c, "production", &sourcev1.OCIRepository{}); err != nil {
		return err
	}
	if err := ocienv.Reconcile(ctx, b.c, "production", &kustomizev1.Kustomization{}); err != nil {
		return err
	}
	return ocienv.Applied(ctx, b.c, "production", "production@"+digest, 5*time.Minute)
}

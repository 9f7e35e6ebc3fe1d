package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/test/ocienv"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// gitless is the -oci scene ("gitless: OCI artifacts"): CI pushes each version as a
// Flux artifact to a registry on loopback (as "flux push artifact" does); staging's
// OCIRepository follows tag latest, production's tag production. The promotion
// moves production's tag to the digest staging applied, with no commit, and follows
// production to Ready; history reads the promotion record from the registry.
func (d *demo) gitless(ctx context.Context) error {
	step("Starting a cluster with Flux, and an OCI registry on loopback")
	p, err := plane.Start(ctx, plane.Options{Name: "gitless", Dir: filepath.Join(d.work, "plane")})
	if err != nil {
		return err
	}
	defer p.Stop()
	reg, err := ociregistry.Start(filepath.Join(d.work, "registry"), ociregistry.Options{})
	if err != nil {
		return err
	}
	defer reg.Close()
	kubeconfig := filepath.Join(d.work, "kubeconfig")
	if err := plane.WriteKubeconfig(kubeconfig, plane.Context{Plane: p}); err != nil {
		return err
	}
	env := append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+d.home)
	c, err := p.Client()
	if err != nil {
		return err
	}

	step("CI pushes app 1.0.0 as a Flux artifact, tagged latest and production")
	d1, err := ocienv.Push(ctx, reg, "1.0.0", "latest", "production")
	if err != nil {
		return err
	}
	fmt.Printf("   %s@%s\n", reg.Repository("app"), d1)
	for _, e := range []struct{ ns, tag string }{{"staging", "latest"}, {"production", "production"}} {
		fmt.Printf("   %s: OCIRepository %s/app follows tag %s; Kustomization %s/app applies it\n", e.ns, e.ns, e.tag, e.ns)
		if err := ocienv.Env(ctx, c, reg.URL("app"), e.ns, e.tag, true); err != nil {
			return err
		}
	}
	for _, e := range []string{"staging", "production"} {
		if err := applied(ctx, c, e, d1); err != nil {
			return err
		}
	}
	step("CI pushes app 1.1.0 (tag latest); staging applies it")
	d2, err := ocienv.Push(ctx, reg, "1.1.0", "latest")
	if err != nil {
		return err
	}
	if err := kubectl(ctx, env, "-n", "staging", "annotate", "--overwrite", "ocirepositories.source.toolkit.fluxcd.io", "app", meta.ReconcileRequestAnnotation+"="+time.Now().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	if err := applied(ctx, c, "staging", d2); err != nil {
		return err
	}
	if err := status(ctx, env, "staging/app", "production/app"); err != nil {
		return fmt.Errorf("kubectl promote status: %w", err)
	}

	step("kubectl promote --from staging/app --to production/app --dry-run (the tag, the digest, the rendered diff, the gates)")
	if err := kubectl(ctx, env, "promote", "--from", "staging/app", "--to", "production/app", "--dry-run"); err != nil {
		return fmt.Errorf("kubectl promote --dry-run: %w", err)
	}
	step("kubectl promote --from staging/app --to production/app --wait --yes: production's tag moves, no commit")
	if err := kubectl(ctx, env, "promote", "--from", "staging/app", "--to", "production/app", "--wait", "--yes"); err != nil {
		return fmt.Errorf("kubectl promote: %w", err)
	}
	step("kubectl promote history production/app: the promotion record, an OCI referrer of the digest")
	if err := kubectl(ctx, env, "promote", "history", "production/app"); err != nil {
		return fmt.Errorf("kubectl promote history: %w", err)
	}
	ks := &kustomizev1.Kustomization{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "production", Name: "app"}, ks); err != nil {
		return err
	}
	if ks.Status.LastAppliedRevision != "production@"+d2 {
		return fmt.Errorf("production applied %s, not the promoted production@%s", ks.Status.LastAppliedRevision, d2)
	}
	step("Done in %s", time.Since(d.began).Round(time.Second))
	fmt.Printf("Flux applied the promoted artifact in production: %s (built from %s)\n", ks.Status.LastAppliedRevision, ks.Status.LastAppliedOriginRevision)
	if d.keep {
		fmt.Printf("\nThe cluster and registry keep running (Ctrl-C stops them). In another shell:\n\n  export KUBECONFIG=%s\n  export PATH=%s:$PATH\n  kubectl promote status staging/app production/app\n\n", kubeconfig, d.bin)
		<-ctx.Done()
	}
	return nil
}

// applied waits for Flux in ns to apply digest, saying so.
func applied(ctx context.Context, c client.Client, ns, digest string) error {
	fmt.Printf("   waiting for Flux in %s to apply %s\n", ns, digest[:19])
	return ocienv.Applied(ctx, c, ns, digest, 2*time.Minute)
}

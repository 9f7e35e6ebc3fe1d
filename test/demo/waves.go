package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// fleet is the -fleet scene: four clusters, and one promotion in two waves, prod-eu
// first and the us region (prod-us-1 and prod-us-2, one overlay) once prod-eu is
// healthy, then status across every context.
func (d *demo) fleet(ctx context.Context) error {
	step("Starting four clusters (staging, prod-eu, prod-us-1, prod-us-2) with Flux, and a Git server with the seed repository")
	fmt.Println("   prod-eu reads ./apps/prod-eu; prod-us-1 and prod-us-2 both read ./apps/prod-us")
	f, env, err := d.start(ctx, fleet.Options{Seed: seed.Options{Envs: seed.FleetEnvs()}})
	if err != nil {
		return err
	}
	defer f.Stop()

	step("Every cluster, before the promotion: kubectl promote status --all-contexts")
	if err := status(ctx, env, "--all-contexts", "--kustomization", "apps"); err != nil {
		return fmt.Errorf("kubectl promote status: %w", err)
	}

	step("kubectl promote apps --from staging --to prod-eu --to 'prod-us-*' --dry-run (the plan of each wave)")
	if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-*", "--dry-run"); err != nil {
		return fmt.Errorf("kubectl promote --dry-run: %w", err)
	}
	before, err := f.Head()
	if err != nil {
		return err
	}
	step("kubectl promote apps --from staging --to prod-eu --to 'prod-us-*' --wait --yes (wave 2 starts once wave 1 is healthy)")
	if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-*", "--wait", "--yes"); err != nil {
		return fmt.Errorf("kubectl promote: %w", err)
	}

	step("The two wave commits on main (git log --stat)")
	log, err := gitserver.Git(f.Git.Dir(fleet.Repo), "log", "--reverse", "--stat", "--format=%n%h %s", before+"..main")
	if err != nil {
		return err
	}
	fmt.Println(strings.TrimSpace(log))
	commits, err := gitserver.Git(f.Git.Dir(fleet.Repo), "rev-list", "--reverse", before+"..main")
	if err != nil {
		return err
	}
	wave := strings.Fields(commits)
	if len(wave) != 2 {
		return fmt.Errorf("the promotion pushed %d commits, not one per wave: %v", len(wave), wave)
	}

	step("Every cluster after the promotion: kubectl promote status --all-contexts")
	if err := status(ctx, env, "--all-contexts"); err != nil {
		return fmt.Errorf("kubectl promote status: %w", err)
	}
	fmt.Println("   prod-eu lags main by wave 2's commit, which changes only ./apps/prod-us: nothing it reads")

	// prod-eu applied wave 1; the us clusters wave 2, on top of it.
	applied := []string{}
	for _, e := range []struct{ env, sha string }{{"prod-eu", wave[0]}, {"prod-us-1", wave[1]}, {"prod-us-2", wave[1]}} {
		_, apps := f.Kustomizations(e.env)
		st, err := fleet.Kustomization(ctx, f.Client(e.env), apps)
		if err != nil {
			return err
		}
		if want := f.RevisionIn(e.env, e.sha); st.LastAppliedRevision != want {
			return fmt.Errorf("%s applied %s, not its wave's commit %s", e.env, st.LastAppliedRevision, want)
		}
		applied = append(applied, fmt.Sprintf("%s %s", e.env, st.LastAppliedRevision))
	}
	d.done(ctx, f, "Flux applied each wave's commit: "+strings.Join(applied, ", "),
		"kubectl promote status --all-contexts")
	return nil
}

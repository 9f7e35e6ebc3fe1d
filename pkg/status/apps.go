package status

import (
	"context"
	"os"
	"path/filepath"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Apps lists the apps an environment runs at its applied revision, for completing
// --app: the render of its overlay, as a promotion from it would see it.
func Apps(ctx context.Context, clients *flux.Clients, spec flux.RefSpec, auth repo.Auth, repoDir string) ([]string, error) {
	env, err := flux.Load(ctx, clients, spec)
	if err != nil {
		return nil, err
	}
	sha, err := flux.CommitSHA(env.Kustomization.Status.LastAppliedRevision)
	if err != nil {
		return nil, err
	}
	r, err := repo.Open(ctx, repo.Options{URL: env.Source.Spec.URL, Auth: auth, RepoDir: repoDir})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	dir, err := os.MkdirTemp("", "kubectl-promote-apps-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tree := filepath.Join(dir, "tree")
	if err := r.Checkout(ctx, sha, tree); err != nil {
		return nil, err
	}
	out, err := render.Render(ctx, render.Input{Dir: tree, Kustomization: env.Kustomization, Client: env.Cluster.Client})
	if err != nil {
		return nil, err
	}
	return plan.Apps(out), nil
}

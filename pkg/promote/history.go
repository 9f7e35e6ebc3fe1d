package promote

import (
	"context"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// HistoryOptions says where to read an environment's history from.
type HistoryOptions struct {
	Auth    repo.Auth
	RepoDir string
	Limit   int
	// Registry is how an OCI environment's registry is reached.
	Registry oci.Options
}

// History reads the promotions and rollbacks to an environment from the branch its
// GitRepository tracks, restricted to its Kustomization's path; for an environment
// reading an OCIRepository, from the promotion records its registry holds for its
// tag (pkg/oci: EnvHistory), or when it pins a digest in Git, from the branch of
// the manifest that pins it (the pin strategy's commits, ocipin.go).
func History(ctx context.Context, clients *flux.Clients, spec flux.RefSpec, o HistoryOptions) (v1alpha1.Environment, []v1alpha1.HistoryEntry, error) {
	env, err := flux.LoadAny(ctx, clients, spec)
	if err != nil {
		return v1alpha1.Environment{}, nil, err
	}
	if env.OCISource != nil {
		desc := oci.Describe(env, env.Kustomization.Status.LastAppliedRevision)
		if flux.OCIRefOf(env.OCISource).Kind == flux.OCIRefDigest {
			// A digest pinned in Git: its promotions are the manifest's commits.
			w := &Workspace{Target: env, git: openOptions{auth: o.Auth, repoDir: o.RepoDir}}
			defer w.close()
			_, entries, err := w.pinHistory(ctx, o.Limit)
			return desc, entries, err
		}
		entries, err := oci.EnvHistory(ctx, env, o.Registry, o.Limit)
		return desc, entries, err
	}
	ref := flux.RefOf(env.Source)
	branch, err := promotionsFrom(env, ref)
	if err != nil {
		return v1alpha1.Environment{}, nil, err
	}
	entries, err := history.Fetch(ctx, env, branch, repo.Options{Auth: o.Auth, RepoDir: o.RepoDir}, o.Limit)
	return describeEnv(env, ref, env.Kustomization.Status.LastAppliedRevision), entries, err
}

package promote

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// checkout writes commit sha into a new directory of the scratch space named name.
func (w *Workspace) checkout(ctx context.Context, sha, name string) (string, error) {
	dir, err := w.scratch(name)
	if err != nil {
		return "", err
	}
	return dir, w.Repo.Checkout(ctx, sha, dir)
}

// protectedBranch says, of a push the server refused for another reason than a
// race, which branch refused it and what review mode will offer.
func protectedBranch(err error, branch string) error {
	if !errors.Is(err, repo.ErrPushRejected) {
		return err
	}
	return fmt.Errorf("%w; nothing was pushed: if branch %q is protected, it takes changes through pull requests: promote with --review (it pushes to a promotion branch and opens one), or push with credentials allowed to write to %q", err, branch, branch)
}

// planInput is what plan.Compute needs to plan the images of targetDir.
func (w *Workspace) planInput(targetDir string) plan.Input {
	return plan.Input{SourceDir: w.SourceDir, TargetDir: targetDir, Source: w.Source.Kustomization, Target: w.Target.Kustomization,
		SourceClient: w.Source.Cluster.Client, TargetClient: w.Target.Cluster.Client, Filter: w.Filter, SourceRender: w.sourceRender}
}

func (w *Workspace) close() {
	if w.Repo != nil {
		w.Repo.Close()
	}
	if w.Scratch != "" {
		os.RemoveAll(w.Scratch)
	}
}

func describeEnv(env *flux.Environment, ref flux.GitRef, revision string) v1alpha1.Environment {
	if env.OCISource != nil {
		return oci.Describe(env, revision)
	}
	return v1alpha1.Environment{
		Name: env.Name, Context: env.Ref.Context, Namespace: env.Ref.Namespace, Kustomization: env.Ref.Name,
		GitRepository: env.Source.Namespace + "/" + env.Source.Name, URL: repo.RedactURL(env.Source.Spec.URL),
		Branch: ref.Branch, Path: env.Kustomization.Spec.Path, Revision: revision,
	}
}

func fillPlan(res *v1alpha1.Promotion, pl *plan.Plan) {
	res.Changes = []v1alpha1.Change{}
	for _, c := range pl.Changes {
		res.Changes = append(res.Changes, v1alpha1.Change{Image: c.Repository, From: c.From.Version(), To: c.To.Version(),
			FromRef: c.From.String(), ToRef: c.To.String(), Apps: c.Apps, Workloads: c.Workloads})
	}
	res.Files = []v1alpha1.File{}
	for _, f := range pl.Files {
		res.Files = append(res.Files, v1alpha1.File{Path: f.Path, Diff: f.UnifiedDiff()})
	}
	res.RenderedDiff = pl.RenderedDiff
}

func commitOf(p *repo.PushResult, spec *repo.CommitSpec) *v1alpha1.Commit {
	c := &v1alpha1.Commit{SHA: p.Commit, Parent: p.Parent, Branch: p.Branch, Attempts: p.Attempts, Revision: p.Branch + "@sha1:" + p.Commit}
	if spec != nil {
		c.Subject = spec.Message
		for _, t := range spec.Trailers {
			c.Trailers = append(c.Trailers, v1alpha1.Trailer{Key: t.Key, Value: t.Value})
		}
	}
	return c
}

// readyToWrite is what every push is preceded by: the permission to announce it to
// Flux (so a commit is never pushed unannounced), the user's yes, and the author.
func readyToWrite(ctx context.Context, env *flux.Environment, r *repo.Repo, author *repo.Signature, confirm func() (bool, error)) (repo.Signature, error) {
	if err := reconcile.CanAnnounce(ctx, env); err != nil {
		return repo.Signature{}, err
	}
	ok, err := confirm()
	if err != nil {
		return repo.Signature{}, err
	}
	if !ok {
		return repo.Signature{}, ErrDeclined
	}
	return authorOf(author, r)
}

// confirm asks ask about res; no question means yes.
func confirm[T any](ask func(T) (bool, error), res T) (bool, error) {
	if ask == nil {
		return true, nil
	}
	return ask(res)
}

// authorOf is --author, else the user's git identity (the checkout's own config first with --repo-dir).
func authorOf(a *repo.Signature, r *repo.Repo) (repo.Signature, error) {
	switch {
	case a != nil:
		return *a, nil
	case r == nil: // no repository: an OCI promotion commits nothing
		return repo.Signature{}, nil
	}
	return r.Author()
}

package promote

import (
	"context"
	"fmt"
	"os"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// Source is the kind of Flux source a target reads, which a workspace is opened
// from: a GitRepository (gitRepositorySource) or an OCIRepository
// (ociRepositorySource, oci.go). It fetches what the source serves and checks out
// the source environment's applied revision, and it chooses, among the strategies
// of its kind, the one the two environments call for.
//
// To add a source, implement Source, with strategies of its own (Strategy), and
// register it in sourceKinds under the kind a Kustomization's spec.sourceRef names.
// The pipeline asks the Source and the Strategy; it never asks which kind it has.
type Source interface {
	// Open fetches the source into w (w.Repo) and checks out w.SourceCommit when set.
	Open(ctx context.Context, w *Workspace, o openOptions) error
	// Choose picks the strategy for w's two environments: want is --strategy
	// ("auto" or empty picks), ffOnly --ff-only, tag the tag strategy's flags.
	Choose(w *Workspace, want string, ffOnly bool, tag TagOptions) (Strategy, error)
	// Commit is what a source's applied revision names: a Git commit's SHA, an OCI
	// artifact's digest.
	Commit(revision string) (string, error)
}

// rollbackSource is a Source whose targets "kubectl promote rollback" can roll
// back: ChooseUndo picks, from the target alone, the strategy whose Undo lands the
// revert, and sets in u where the promotions it undoes are read.
type rollbackSource interface {
	ChooseUndo(w *Workspace, u *undo) (Strategy, error)
}

// openOptions is how a source (or, for an OCI target whose digest pin lives in
// Git, the repository of its manifest) is fetched.
type openOptions struct {
	progress Progress
	auth     repo.Auth
	repoDir  string
	key      *sign.Key
}

// sourceKinds are the sources the pipeline can open, by the kind a Kustomization's
// spec.sourceRef names.
var sourceKinds = map[string]Source{
	sourcev1.GitRepositoryKind: gitRepositorySource{},
	sourcev1.OCIRepositoryKind: ociRepositorySource{},
}

// sourceOf is the source env's Kustomization reads.
func sourceOf(env *flux.Environment) (Source, error) {
	kind := env.Kustomization.Spec.SourceRef.Kind
	if kind == "" {
		kind = sourcev1.GitRepositoryKind
	}
	s, ok := sourceKinds[kind]
	if !ok {
		return nil, fmt.Errorf("Kustomization %s reads a %s: promoting from a %s is not supported; promote environments whose Kustomizations read a GitRepository", env.Ref, kind, kind)
	}
	return s, nil
}

// gitRepositorySource is a GitRepository: a Git repository fetched once, and the
// images, revision and tag strategies (strategy.go).
type gitRepositorySource struct{}

func (gitRepositorySource) Open(ctx context.Context, w *Workspace, o openOptions) error {
	if err := w.open(ctx, w.Target.Source.Spec.URL, o); err != nil {
		return err
	}
	if w.SourceCommit != "" {
		dir, err := w.checkout(ctx, w.SourceCommit, "source")
		if err != nil {
			return fmt.Errorf("checking out the source's applied revision %s: %w", w.SourceRevision, err)
		}
		w.SourceDir = dir
	}
	return nil
}

func (gitRepositorySource) Choose(w *Workspace, want string, ffOnly bool, tag TagOptions) (Strategy, error) {
	if w.Source.Source == nil {
		return nil, oci.RefuseMix(w.Source, w.Target)
	}
	return chooseStrategy(w, want, ffOnly, tag)
}

func (gitRepositorySource) Commit(revision string) (string, error) { return flux.CommitSHA(revision) }

// ChooseUndo: a branch's promotions, whatever strategy made them, are reverted on
// the branch (the images strategy's Undo, which the revision strategy's is too); a
// tag target's are undone by the tag strategy, with a new tag or the previous pin.
// The promotions are read from the branch, or for a tag target from the commit it
// applied (promotionsFrom).
func (gitRepositorySource) ChooseUndo(w *Workspace, u *undo) (Strategy, error) {
	from, err := promotionsFrom(w.Target, w.TargetRef)
	if err != nil {
		return nil, err
	}
	u.from, u.branch = from, w.TargetRef.Branch
	if w.TargetRef.ReachedByTags() {
		return tagStrategy{pinned: w.TargetRef.PinnedTag()}, nil
	}
	return imagesStrategy{}, nil
}

// open fetches the repository at url into w.Repo, with a scratch space when w has
// none.
func (w *Workspace) open(ctx context.Context, url string, o openOptions) error {
	if o.progress != nil {
		o.progress.Doing("fetching %s", repo.RedactURL(url))
	}
	opts := repo.Options{URL: url, Auth: o.auth, RepoDir: o.repoDir}
	if o.key != nil { // a nil *sign.Key in the interface would not be nil
		opts.Signer = o.key
	}
	r, err := repo.Open(ctx, opts)
	if err != nil {
		return err
	}
	if why := r.Rebuilt(); why != nil && o.progress != nil {
		o.progress.Done("%v", why)
	}
	w.Repo = r
	if w.Scratch == "" {
		if w.Scratch, err = os.MkdirTemp("", "kubectl-promote-"); err != nil {
			return err
		}
	}
	return nil
}

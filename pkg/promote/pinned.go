package promote

import (
	"context"
	"fmt"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/manifest"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// StrategyPinnedTag is the JSON "strategy" of a promotion to a GitRepository pinned
// to one tag (--strategy tag or auto chooses it).
const StrategyPinnedTag = "pinned-tag"

// pin is where a pinned target's GitRepository is declared (manifest.Locate): the
// manifest, the Kustomization that applies it (with its source) and the branch
// that Kustomization reads.
type pin struct {
	manifest.Found
	// file is the file the edit changes, as planned.
	file manifest.File
}

// describe is the plan's and the result's account of the pin.
func (p *pin) describe(w *Workspace, previous, tag string) *v1alpha1.Pin {
	return &v1alpha1.Pin{GitRepository: w.Target.Source.Namespace + "/" + w.Target.Source.Name, Previous: previous, Tag: tag,
		Manifest: p.Declaration.Path, File: p.file.Path, Kustomization: p.Via.Ref.Namespace + "/" + p.Via.Ref.Name, Branch: p.Branch}
}

// planPin finds the manifest and plans its edit to tag on the head of its branch,
// verified by rendering the Kustomization that applies it: the GitRepository must
// come out pinned to tag. The planned file joins the plan's files.
func (s tagStrategy) planPin(ctx context.Context, w *Workspace, c *Proposal) error {
	p, _, err := preparePin(ctx, w, c.Tag)
	if err != nil {
		return err
	}
	c.Pin = p
	c.Plan.Files = append(c.Plan.Files, plan.FileChange{Path: p.file.Path, Before: p.file.Before, After: p.file.After})
	return nil
}

// preparePin finds the manifest and plans, on a checkout of its branch's head
// (returned), its edit to pin tag (p.file).
func preparePin(ctx context.Context, w *Workspace, tag string) (*pin, string, error) {
	found, err := manifest.Locate(ctx, w.Target, w.Repo, func(ctx context.Context, head string) (string, error) {
		return w.checkout(ctx, head, "manifests-"+repo.ShortSHA(head))
	})
	if err != nil {
		return nil, "", err
	}
	p := &pin{Found: *found}
	head, err := w.Repo.BranchHead(ctx, p.Branch)
	if err != nil {
		return nil, "", err
	}
	dir, err := w.checkout(ctx, head, "pin")
	if err != nil {
		return nil, "", err
	}
	if p.file, err = setPin(ctx, w, p, dir, tag); err != nil {
		return nil, "", err
	}
	return p, head, nil
}

// setPin edits the manifest under dir to pin tag and checks the edit with a render
// of the Kustomization that applies it.
func setPin(ctx context.Context, w *Workspace, p *pin, dir, tag string) (manifest.File, error) {
	gr := w.Target.Source
	f, err := manifest.SetTag(dir, p.Declaration, tag)
	if err != nil {
		return f, fmt.Errorf("editing the manifest of GitRepository %s/%s: %w; nothing was pushed", gr.Namespace, gr.Name, err)
	}
	return f, p.Verify(ctx, dir, gr, f.Path, tag)
}

// pinSubject is the manifest commit's subject.
func pinSubject(w *Workspace, tag string) string {
	return fmt.Sprintf("promote(%s): pin GitRepository %s/%s to %s", w.Target.Name, w.Target.Source.Namespace, w.Target.Source.Name, tag)
}

// commitPin commits the pin of tag on base (the image commit when the manifest's
// branch is the one the images went to, else that branch's head).
func commitPin(ctx context.Context, w *Workspace, p *pin, base, tag string, trailers []repo.Trailer, author repo.Signature) (string, []string, error) {
	return w.Repo.CommitOn(ctx, base, func(ctx context.Context, _, dir string) (*repo.CommitSpec, error) {
		if _, err := setPin(ctx, w, p, dir, tag); err != nil {
			return nil, err
		}
		return &repo.CommitSpec{Message: pinSubject(w, tag), Trailers: trailers, Author: author}, nil
	})
}

// pinRefs is what a pinned-tag Make pushes for the pin: the commit to put on the
// Land branch and, when the manifest lives on another branch, that branch's update.
func (w *Workspace) pinRefs(ctx context.Context, p *pin, landBranch, commit, tag string, trailers []repo.Trailer, author repo.Signature) (string, []string, []repo.RefUpdate, string, error) {
	if p.Branch == landBranch {
		pinned, files, err := commitPin(ctx, w, p, commit, tag, trailers, author)
		return pinned, files, nil, pinned, err
	}
	head, err := w.Repo.BranchHead(ctx, p.Branch)
	if err != nil {
		return "", nil, nil, "", err
	}
	pinned, _, err := commitPin(ctx, w, p, head, tag, trailers, author)
	if err != nil {
		return "", nil, nil, "", err
	}
	return commit, nil, []repo.RefUpdate{{Name: "refs/heads/" + p.Branch, Old: head, Commit: pinned}}, pinned, nil
}

// pinTrailers are the manifest commit's trailers: the promotion's, with the tag
// pinned before.
func pinTrailers(p Provenance, tag, previous string) []repo.Trailer {
	return p.Trailers(repo.Trailer{Key: history.TrailerStrategy, Value: StrategyPinnedTag}, repo.Trailer{Key: history.TrailerTag, Value: tag},
		repo.Trailer{Key: history.TrailerPreviousTag, Value: previous})
}

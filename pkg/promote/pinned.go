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

// pin is where a pinned target's source object is declared (manifest.Locate): the
// manifest, the Kustomization that applies it (with its source) and the branch
// that Kustomization reads. A GitRepository pinned to a tag (the pinned-tag
// strategy) and an OCIRepository pinned to a digest (the pin strategy, ocipin.go)
// are both moved by editing it.
type pin struct {
	manifest.Found
	// file is the file the edit changes, as planned; previous and value what the
	// object pins before and after it.
	file            manifest.File
	previous, value string
}

// describe is the plan's and the result's account of the pin.
func (p *pin) describe() *v1alpha1.Pin {
	d := p.Declaration
	out := &v1alpha1.Pin{Previous: p.previous, Manifest: d.Path, File: p.file.Path,
		Kustomization: p.Via.Ref.Namespace + "/" + p.Via.Ref.Name, Branch: p.Branch}
	if obj := d.Namespace + "/" + d.Name; d.Kind == manifest.KindOCIRepository {
		out.OCIRepository, out.Digest = obj, p.value
	} else {
		out.GitRepository, out.Tag = obj, p.value
	}
	return out
}

// planPin finds the manifest and plans its edit to tag on the head of its branch,
// verified by rendering the Kustomization that applies it: the GitRepository must
// come out pinned to tag. The planned file joins the plan's files.
func (s tagStrategy) planPin(ctx context.Context, w *Workspace, c *Proposal) error {
	p, _, err := preparePin(ctx, w, c.Tag)
	if err != nil {
		return err
	}
	p.previous = c.Released.Name
	c.Pin = p
	c.Plan.Files = append(c.Plan.Files, p.change())
	return nil
}

// change is the planned edit as a file change of the plan.
func (p *pin) change() plan.FileChange {
	return plan.FileChange{Path: p.file.Path, Before: p.file.Before, After: p.file.After}
}

// locatePin finds the manifest that declares the target's source object.
func locatePin(ctx context.Context, w *Workspace) (*pin, error) {
	found, err := manifest.Locate(ctx, w.Target, w.Repo, func(ctx context.Context, head string) (string, error) {
		return w.checkout(ctx, head, "manifests-"+repo.ShortSHA(head))
	})
	if err != nil {
		return nil, err
	}
	return &pin{Found: *found}, nil
}

// preparePin finds the manifest and plans, on a checkout of its branch's head
// (returned), its edit to pin value (p.file).
func preparePin(ctx context.Context, w *Workspace, value string) (*pin, string, error) {
	p, err := locatePin(ctx, w)
	if err != nil {
		return nil, "", err
	}
	head, err := w.Repo.BranchHead(ctx, p.Branch)
	if err != nil {
		return nil, "", err
	}
	dir, err := w.checkout(ctx, head, "pin")
	if err != nil {
		return nil, "", err
	}
	p.value = value
	if p.file, err = setPin(ctx, p, dir, value); err != nil {
		return nil, "", err
	}
	return p, head, nil
}

// setPin edits the manifest under dir to pin value and checks the edit with a
// render of the Kustomization that applies it.
func setPin(ctx context.Context, p *pin, dir, value string) (manifest.File, error) {
	d := p.Declaration
	f, err := manifest.SetRef(dir, d, value)
	if err != nil {
		return f, fmt.Errorf("editing the manifest of %s %s/%s: %w; nothing was pushed", d.Kind, d.Namespace, d.Name, err)
	}
	return f, p.Verify(ctx, dir, f.Path, value)
}

// pinSubject is the manifest commit's subject.
func pinSubject(w *Workspace, p *pin, value string) string {
	d := p.Declaration
	return fmt.Sprintf("promote(%s): pin %s %s/%s to %s", w.Target.Name, d.Kind, d.Namespace, d.Name, value)
}

// commitPin commits the pin of tag on base (the image commit when the manifest's
// branch is the one the images went to, else that branch's head).
func commitPin(ctx context.Context, w *Workspace, p *pin, base, tag string, trailers []repo.Trailer, author repo.Signature) (string, []string, error) {
	return w.Repo.CommitOn(ctx, base, func(ctx context.Context, _, dir string) (*repo.CommitSpec, error) {
		if _, err := setPin(ctx, p, dir, tag); err != nil {
			return nil, err
		}
		return &repo.CommitSpec{Message: pinSubject(w, p, tag), Trailers: trailers, Author: author}, nil
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

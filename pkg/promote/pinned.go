package promote

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/manifest"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// StrategyPinnedTag is the JSON "strategy" of a promotion to a GitRepository pinned
// to one tag (--strategy tag or auto chooses it).
const StrategyPinnedTag = "pinned-tag"

// pin is where a pinned target's GitRepository is declared: the manifest, the
// Kustomization that applies it (with its source) and the branch that Kustomization
// reads.
type pin struct {
	decl   manifest.Declaration
	via    *flux.Environment
	branch string
	// file is the file the edit changes, as planned.
	file manifest.File
}

// describe is the plan's and the result's account of the pin.
func (p *pin) describe(w *Workspace, previous, tag string) *v1alpha1.Pin {
	return &v1alpha1.Pin{GitRepository: w.Target.Source.Namespace + "/" + w.Target.Source.Name, Previous: previous, Tag: tag,
		Manifest: p.decl.Path, File: p.file.Path, Kustomization: p.via.Ref.Namespace + "/" + p.via.Ref.Name, Branch: p.branch}
}

// findPin finds the manifest that declares the target's GitRepository: under the
// path of every Kustomization of the target's cluster that reads a branch of the same
// repository, at that branch's head. It refuses, before anything is written, when
// none declares it (saying where it looked and what to do) or when several do.
func findPin(ctx context.Context, w *Workspace) (*pin, error) {
	gr, cl := w.Target.Source, w.Target.Cluster
	what := fmt.Sprintf("GitRepository %s/%s of %s, which pins tag %s,", gr.Namespace, gr.Name, w.Target.Name, w.TargetRef.PinnedTag())
	list := &kustomizev1.KustomizationList{}
	if err := cl.Client.List(ctx, list); err != nil {
		if err := cl.Client.List(ctx, list, client.InNamespace(gr.Namespace)); err != nil {
			return nil, flux.APIError(err, "list", "kustomizations.kustomize.toolkit.fluxcd.io", gr.Namespace+"/*", cl.Context)
		}
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].Namespace+"/"+list.Items[i].Name < list.Items[j].Namespace+"/"+list.Items[j].Name
	})
	sc := &pinSearch{w: w, trees: map[string]string{}}
	for i := range list.Items {
		if err := sc.search(ctx, &list.Items[i]); err != nil {
			return nil, err
		}
	}
	searched, itself, matches := sc.searched, sc.itself, sc.matches
	if len(matches) == 0 {
		where := "no Kustomization in context " + cl.Context + " reads a branch of " + repo.RedactURL(gr.Spec.URL)
		if len(searched) > 0 {
			where = "searched " + strings.Join(searched, ", ")
		}
		if len(itself) > 0 {
			where += "; Kustomization " + strings.Join(itself, ", ") + " reads the pinned tag itself, so a commit can never reach it"
		}
		return nil, fmt.Errorf("no manifest in the repository declares %s so the tag cannot be moved through Git (%s); nothing was pushed: commit the GitRepository's manifest (kind GitRepository, metadata.namespace %s, metadata.name %s, spec.ref.tag) under the path of a Kustomization that reads a branch of this repository, as flux bootstrap does in clusters/<env>/flux-system/gotk-sync.yaml, then promote again",
			what, where, gr.Namespace, gr.Name)
	}
	// The deepest Kustomization path applies it (a parent's path includes a child's).
	sort.SliceStable(matches, func(i, j int) bool { return matches[i].depth > matches[j].depth })
	seen := map[string]bool{}
	var files []string
	for _, m := range matches {
		if k := m.branch + ":" + m.decl.Path; !seen[k] {
			seen[k] = true
			files = append(files, m.decl.Path+" on branch "+m.branch)
		}
	}
	if len(files) > 1 {
		return nil, fmt.Errorf("%s is declared by several manifests (%s): Flux applies them all, so there is no one to edit; keep one, then promote again; nothing was pushed", what, strings.Join(files, ", "))
	}
	p := matches[0].pin
	return &p, nil
}

// pinSearch is findPin's search through the Kustomizations of the target's cluster.
type pinSearch struct {
	w                *Workspace
	trees            map[string]string // checkouts by commit
	searched, itself []string
	matches          []pinFound
}

type pinFound struct {
	pin
	depth int
}

// search looks for the target's GitRepository's manifest under the path of ks, when
// ks reads a branch of the same repository, at that branch's head.
func (sc *pinSearch) search(ctx context.Context, ks *kustomizev1.Kustomization) error {
	w := sc.w
	gr, cl := w.Target.Source, w.Target.Cluster
	if ks.Spec.SourceRef.Kind != sourcev1.GitRepositoryKind {
		return nil
	}
	key := client.ObjectKey{Namespace: ks.Spec.SourceRef.Namespace, Name: ks.Spec.SourceRef.Name}
	if key.Namespace == "" {
		key.Namespace = ks.Namespace
	}
	src := &sourcev1.GitRepository{}
	if err := cl.Client.Get(ctx, key, src); err != nil || !repo.SameURL(src.Spec.URL, gr.Spec.URL) {
		return nil
	}
	branch := flux.RefOf(src).Branch
	if branch == "" {
		if key.Namespace == gr.Namespace && key.Name == gr.Name {
			sc.itself = append(sc.itself, ks.Namespace+"/"+ks.Name)
		}
		return nil
	}
	head, err := w.Repo.BranchHead(ctx, branch)
	if err != nil {
		return nil
	}
	dir, ok := sc.trees[head]
	if !ok {
		if dir, err = w.checkout(ctx, head, "manifests-"+repo.ShortSHA(head)); err != nil {
			return err
		}
		sc.trees[head] = dir
	}
	sc.searched = append(sc.searched, fmt.Sprintf("%s of branch %s (Kustomization %s/%s)", ks.Spec.Path, branch, ks.Namespace, ks.Name))
	decls, err := manifest.Find(dir, ks.Spec.Path, gr.Namespace, gr.Name, ks.Spec.TargetNamespace)
	if err != nil {
		return err
	}
	for _, d := range decls {
		env := &flux.Environment{Ref: flux.Ref{Context: cl.Context, Namespace: ks.Namespace, Name: ks.Name}, Cluster: cl, Kustomization: ks, Source: src,
			Name: "Kustomization " + ks.Namespace + "/" + ks.Name}
		sc.matches = append(sc.matches, pinFound{pin: pin{decl: d, via: env, branch: branch}, depth: strings.Count(path.Clean("/"+ks.Spec.Path), "/")})
	}
	return nil
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
	p, err := findPin(ctx, w)
	if err != nil {
		return nil, "", err
	}
	head, err := w.Repo.BranchHead(ctx, p.branch)
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
	f, err := manifest.SetTag(dir, p.decl, tag)
	if err != nil {
		return f, fmt.Errorf("editing the manifest of GitRepository %s/%s: %w; nothing was pushed", gr.Namespace, gr.Name, err)
	}
	out, err := render.Render(ctx, render.Input{Dir: dir, Kustomization: p.via.Kustomization, Client: p.via.Cluster.Client})
	if err != nil {
		return f, fmt.Errorf("verifying the edit of %s: rendering %s: %w; nothing was pushed", f.Path, p.via.Name, err)
	}
	for _, o := range out.Objects {
		if o.GetKind() != sourcev1.GitRepositoryKind || o.GetName() != gr.Name || o.GetNamespace() != gr.Namespace {
			continue
		}
		got := &sourcev1.GitRepository{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, got); err != nil {
			return f, err
		}
		if now := flux.RefOf(got).PinnedTag(); now != tag {
			return f, fmt.Errorf("verifying the edit of %s: %s renders GitRepository %s/%s with %s, not tag %s (another patch overrides it?); nothing was pushed",
				f.Path, p.via.Name, gr.Namespace, gr.Name, flux.RefOf(got), tag)
		}
		return f, nil
	}
	return f, fmt.Errorf("verifying the edit of %s: %s does not render GitRepository %s/%s; nothing was pushed", f.Path, p.via.Name, gr.Namespace, gr.Name)
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
	if p.branch == landBranch {
		pinned, files, err := commitPin(ctx, w, p, commit, tag, trailers, author)
		return pinned, files, nil, pinned, err
	}
	head, err := w.Repo.BranchHead(ctx, p.branch)
	if err != nil {
		return "", nil, nil, "", err
	}
	pinned, _, err := commitPin(ctx, w, p, head, tag, trailers, author)
	if err != nil {
		return "", nil, nil, "", err
	}
	return commit, nil, []repo.RefUpdate{{Name: "refs/heads/" + p.branch, Old: head, Commit: pinned}}, pinned, nil
}

// pinTrailers are the manifest commit's trailers: the promotion's, with the tag
// pinned before.
func pinTrailers(p Provenance, tag, previous string) []repo.Trailer {
	return p.Trailers(repo.Trailer{Key: history.TrailerStrategy, Value: StrategyPinnedTag}, repo.Trailer{Key: history.TrailerTag, Value: tag},
		repo.Trailer{Key: history.TrailerPreviousTag, Value: previous})
}

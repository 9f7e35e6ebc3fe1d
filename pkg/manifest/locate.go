package manifest

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

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Found is a manifest declaring a GitRepository: where it is (Declaration), the
// Kustomization that applies it (Via: an Environment named "Kustomization ns/name",
// with its cluster and source) and the branch that Kustomization reads.
type Found struct {
	Declaration Declaration
	Via         *flux.Environment
	Branch      string
}

// Locate finds the manifest that declares target's GitRepository, which pins a
// tag: under the path of every Kustomization of the target's cluster that reads a
// branch of the same repository (r), at that branch's head, which checkout checks
// out (once a commit). It refuses, before anything is written, when none declares
// it (saying where it looked and what to do) or when several do. It lives here, not
// in the promotion pipeline, because it is the cluster half of finding the
// manifest: Find is the checkout half.
func Locate(ctx context.Context, target *flux.Environment, r *repo.Repo, checkout func(ctx context.Context, head string) (string, error)) (*Found, error) {
	gr, cl := target.Source, target.Cluster
	what := fmt.Sprintf("GitRepository %s/%s of %s, which pins tag %s,", gr.Namespace, gr.Name, target.Name, flux.RefOf(gr).PinnedTag())
	list := &kustomizev1.KustomizationList{}
	if err := cl.Client.List(ctx, list); err != nil {
		if err := cl.Client.List(ctx, list, client.InNamespace(gr.Namespace)); err != nil {
			return nil, flux.APIError(err, "list", "kustomizations.kustomize.toolkit.fluxcd.io", gr.Namespace+"/*", cl.Context)
		}
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].Namespace+"/"+list.Items[i].Name < list.Items[j].Namespace+"/"+list.Items[j].Name
	})
	sc := &search{target: target, repo: r, checkout: checkout, trees: map[string]string{}}
	for i := range list.Items {
		if err := sc.under(ctx, &list.Items[i]); err != nil {
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
		if k := m.Branch + ":" + m.Declaration.Path; !seen[k] {
			seen[k] = true
			files = append(files, m.Declaration.Path+" on branch "+m.Branch)
		}
	}
	if len(files) > 1 {
		return nil, fmt.Errorf("%s is declared by several manifests (%s): Flux applies them all, so there is no one to edit; keep one, then promote again; nothing was pushed", what, strings.Join(files, ", "))
	}
	f := matches[0].Found
	return &f, nil
}

// search is Locate's search through the Kustomizations of the target's cluster.
type search struct {
	target           *flux.Environment
	repo             *repo.Repo
	checkout         func(ctx context.Context, head string) (string, error)
	trees            map[string]string // checkouts by commit
	searched, itself []string
	matches          []found
}

type found struct {
	Found
	depth int
}

// under looks for the target's GitRepository's manifest under the path of ks, when
// ks reads a branch of the same repository, at that branch's head.
func (sc *search) under(ctx context.Context, ks *kustomizev1.Kustomization) error {
	gr, cl := sc.target.Source, sc.target.Cluster
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
	head, err := sc.repo.BranchHead(ctx, branch)
	if err != nil {
		return nil
	}
	dir, ok := sc.trees[head]
	if !ok {
		if dir, err = sc.checkout(ctx, head); err != nil {
			return err
		}
		sc.trees[head] = dir
	}
	sc.searched = append(sc.searched, fmt.Sprintf("%s of branch %s (Kustomization %s/%s)", ks.Spec.Path, branch, ks.Namespace, ks.Name))
	decls, err := Find(dir, ks.Spec.Path, gr.Namespace, gr.Name, ks.Spec.TargetNamespace)
	if err != nil {
		return err
	}
	for _, d := range decls {
		env := &flux.Environment{Ref: flux.Ref{Context: cl.Context, Namespace: ks.Namespace, Name: ks.Name}, Cluster: cl, Kustomization: ks, Source: src,
			Name: "Kustomization " + ks.Namespace + "/" + ks.Name}
		sc.matches = append(sc.matches, found{Found: Found{Declaration: d, Via: env, Branch: branch}, depth: strings.Count(path.Clean("/"+ks.Spec.Path), "/")})
	}
	return nil
}

// Verify renders, on dir, the Kustomization that applies the manifest (f.Via) and
// checks that it renders GitRepository gr pinned to tag: a patch overriding the
// edit of file would otherwise go unseen until Flux applied it.
func (f Found) Verify(ctx context.Context, dir string, gr *sourcev1.GitRepository, file, tag string) error {
	out, err := render.Render(ctx, render.Input{Dir: dir, Kustomization: f.Via.Kustomization, Client: f.Via.Cluster.Client})
	if err != nil {
		return fmt.Errorf("verifying the edit of %s: rendering %s: %w; nothing was pushed", file, f.Via.Name, err)
	}
	for _, o := range out.Objects {
		if o.GetKind() != sourcev1.GitRepositoryKind || o.GetName() != gr.Name || o.GetNamespace() != gr.Namespace {
			continue
		}
		got := &sourcev1.GitRepository{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, got); err != nil {
			return err
		}
		if now := flux.RefOf(got).PinnedTag(); now != tag {
			return fmt.Errorf("verifying the edit of %s: %s renders GitRepository %s/%s with %s, not tag %s (another patch overrides it?); nothing was pushed",
				file, f.Via.Name, gr.Namespace, gr.Name, flux.RefOf(got), tag)
		}
		return nil
	}
	return fmt.Errorf("verifying the edit of %s: %s does not render GitRepository %s/%s; nothing was pushed", file, f.Via.Name, gr.Namespace, gr.Name)
}

package manifest

import (
	"cmp"
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

// Found is a manifest declaring a source object: where it is (Declaration), the
// Kustomization that applies it (Via: an Environment named "Kustomization ns/name",
// with its cluster and source) and the branch that Kustomization reads.
type Found struct {
	Declaration Declaration
	Via         *flux.Environment
	Branch      string
}

// Labels kustomize-controller sets on every object a Kustomization applies.
const (
	LabelName      = "kustomize.toolkit.fluxcd.io/name"
	LabelNamespace = "kustomize.toolkit.fluxcd.io/namespace"
)

// object is the pinned source object Locate looks for: the target's GitRepository
// (pinned to a tag) or OCIRepository (pinned to a digest).
type object struct {
	kind, namespace, name string
	// what names it in messages; url, for a GitRepository, is its repository: only
	// Kustomizations reading a branch of it are searched.
	what, url string
}

func objectOf(target *flux.Environment) object {
	if src := target.OCISource; src != nil {
		return object{kind: KindOCIRepository, namespace: src.Namespace, name: src.Name,
			what: fmt.Sprintf("OCIRepository %s/%s of %s, which pins %s,", src.Namespace, src.Name, target.Name, flux.OCIRefOf(src))}
	}
	gr := target.Source
	return object{kind: KindGitRepository, namespace: gr.Namespace, name: gr.Name, url: gr.Spec.URL,
		what: fmt.Sprintf("GitRepository %s/%s of %s, which pins tag %s,", gr.Namespace, gr.Name, target.Name, flux.RefOf(gr).PinnedTag())}
}

// AppliedBy is the Kustomization that applied target's OCIRepository, as the labels
// kustomize-controller puts on what it applies name it, and the GitRepository branch
// it reads: where the OCIRepository's manifest is. An OCIRepository without the
// labels was applied by hand (or by another tool), and one applied from anything but
// a branch of a GitRepository cannot be moved by a commit: both refused, naming it,
// before anything is written.
func AppliedBy(ctx context.Context, target *flux.Environment) (*kustomizev1.Kustomization, *sourcev1.GitRepository, error) {
	src, cl := target.OCISource, target.Cluster
	what := objectOf(target).what
	name, ns := src.Labels[LabelName], src.Labels[LabelNamespace]
	if name == "" || ns == "" {
		return nil, nil, fmt.Errorf("no Flux Kustomization applied OCIRepository %s/%s of %s (it has no %s label: applied by hand?), so its %s is in no manifest in Git to edit; nothing was pushed: commit its manifest under the path of a Kustomization that reads a branch of your fleet repository, or point spec.ref at a tag",
			src.Namespace, src.Name, target.Name, LabelName, flux.OCIRefOf(src))
	}
	ks := &kustomizev1.Kustomization{}
	if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ks); err != nil {
		return nil, nil, flux.APIError(err, "get", "kustomizations.kustomize.toolkit.fluxcd.io", ns+"/"+name, cl.Context)
	}
	ref := ks.Spec.SourceRef
	if ref.Kind != sourcev1.GitRepositoryKind {
		return nil, nil, fmt.Errorf("%s is applied by Kustomization %s/%s, which reads %s %s, not Git: there is no manifest in Git to edit; nothing was pushed", what, ns, name, ref.Kind, ref.Name)
	}
	key := client.ObjectKey{Namespace: cmp.Or(ref.Namespace, ks.Namespace), Name: ref.Name}
	gr := &sourcev1.GitRepository{}
	if err := cl.Client.Get(ctx, key, gr); err != nil {
		return nil, nil, flux.APIError(err, "get", "gitrepositories.source.toolkit.fluxcd.io", key.String(), cl.Context)
	}
	if b := flux.RefOf(gr).Branch; b == "" {
		return nil, nil, fmt.Errorf("%s is applied by Kustomization %s/%s, whose GitRepository %s reads %s, not a branch: a commit can never reach it; nothing was pushed", what, ns, name, key, flux.RefOf(gr))
	}
	return ks, gr, nil
}

// Locate finds the manifest that declares target's pinned source object, at the
// head of a branch of repository r, which checkout checks out (once a commit). A
// GitRepository pinned to a tag is searched for under the path of every
// Kustomization of the target's cluster that reads a branch of the same repository;
// an OCIRepository pinned to a digest, under the path of the Kustomization that
// applied it (AppliedBy), which reads r. It refuses, before anything is written,
// when none declares it (saying where it looked and what to do) or when several do.
// It lives here, not in the promotion pipeline, because it is the cluster half of
// finding the manifest: Find is the checkout half.
func Locate(ctx context.Context, target *flux.Environment, r *repo.Repo, checkout func(ctx context.Context, head string) (string, error)) (*Found, error) {
	obj, cl := objectOf(target), target.Cluster
	var candidates []kustomizev1.Kustomization
	if obj.kind == KindOCIRepository {
		ks, gr, err := AppliedBy(ctx, target)
		if err != nil {
			return nil, err
		}
		obj.url, candidates = gr.Spec.URL, []kustomizev1.Kustomization{*ks}
	} else {
		list := &kustomizev1.KustomizationList{}
		if err := cl.Client.List(ctx, list); err != nil {
			if err := cl.Client.List(ctx, list, client.InNamespace(obj.namespace)); err != nil {
				return nil, flux.APIError(err, "list", "kustomizations.kustomize.toolkit.fluxcd.io", obj.namespace+"/*", cl.Context)
			}
		}
		candidates = list.Items
	}
	sort.Slice(candidates, func(i, j int) bool {
		return candidates[i].Namespace+"/"+candidates[i].Name < candidates[j].Namespace+"/"+candidates[j].Name
	})
	sc := &search{target: target, obj: obj, repo: r, checkout: checkout, trees: map[string]string{}}
	for i := range candidates {
		if err := sc.under(ctx, &candidates[i]); err != nil {
			return nil, err
		}
	}
	return sc.found()
}

// found is the one manifest the search found, or the refusal that says why not.
func (sc *search) found() (*Found, error) {
	obj, matches := sc.obj, sc.matches
	if len(matches) == 0 {
		where := "no Kustomization in context " + sc.target.Cluster.Context + " reads a branch of " + repo.RedactURL(obj.url)
		if len(sc.searched) > 0 {
			where = "searched " + strings.Join(sc.searched, ", ")
		}
		if len(sc.itself) > 0 {
			where += "; Kustomization " + strings.Join(sc.itself, ", ") + " reads the pinned tag itself, so a commit can never reach it"
		}
		return nil, fmt.Errorf("no manifest in the repository declares %s so the %s cannot be moved through Git (%s); nothing was pushed: commit the %s's manifest (kind %s, metadata.namespace %s, metadata.name %s, spec.ref.%s) under the path of a Kustomization that reads a branch of this repository, as flux bootstrap does in clusters/<env>/flux-system/gotk-sync.yaml, then promote again",
			obj.what, RefField(obj.kind), where, obj.kind, obj.kind, obj.namespace, obj.name, RefField(obj.kind))
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
		return nil, fmt.Errorf("%s is declared by several manifests (%s): Flux applies them all, so there is no one to edit; keep one, then promote again; nothing was pushed", obj.what, strings.Join(files, ", "))
	}
	f := matches[0].Found
	return &f, nil
}

// search is Locate's search through the Kustomizations of the target's cluster.
type search struct {
	target           *flux.Environment
	obj              object
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

// under looks for the target's source object's manifest under the path of ks, when
// ks reads a branch of the repository searched, at that branch's head.
func (sc *search) under(ctx context.Context, ks *kustomizev1.Kustomization) error {
	obj, cl := sc.obj, sc.target.Cluster
	if ks.Spec.SourceRef.Kind != sourcev1.GitRepositoryKind {
		return nil
	}
	key := client.ObjectKey{Namespace: ks.Spec.SourceRef.Namespace, Name: ks.Spec.SourceRef.Name}
	if key.Namespace == "" {
		key.Namespace = ks.Namespace
	}
	src := &sourcev1.GitRepository{}
	if err := cl.Client.Get(ctx, key, src); err != nil || !repo.SameURL(src.Spec.URL, obj.url) {
		return nil
	}
	branch := flux.RefOf(src).Branch
	if branch == "" {
		if obj.kind == KindGitRepository && key.Namespace == obj.namespace && key.Name == obj.name {
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
	decls, err := Find(dir, ks.Spec.Path, obj.kind, obj.namespace, obj.name, ks.Spec.TargetNamespace)
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
// checks that it renders the declared object pinned to value (its spec.ref.tag or
// spec.ref.digest): a patch overriding the edit of file would otherwise go unseen
// until Flux applied it.
func (f Found) Verify(ctx context.Context, dir, file, value string) error {
	d := f.Declaration
	out, err := render.Render(ctx, render.Input{Dir: dir, Kustomization: f.Via.Kustomization, Client: f.Via.Cluster.Client})
	if err != nil {
		return fmt.Errorf("verifying the edit of %s: rendering %s: %w; nothing was pushed", file, f.Via.Name, err)
	}
	for _, o := range out.Objects {
		if o.GetKind() != d.Kind || o.GetName() != d.Name || o.GetNamespace() != d.Namespace {
			continue
		}
		now, ref, err := pinned(o.Object, d.Kind)
		if err != nil {
			return err
		}
		if now != value {
			return fmt.Errorf("verifying the edit of %s: %s renders %s %s/%s with %s, not %s %s (another patch overrides it?); nothing was pushed",
				file, f.Via.Name, d.Kind, d.Namespace, d.Name, ref, RefField(d.Kind), value)
		}
		return nil
	}
	return fmt.Errorf("verifying the edit of %s: %s does not render %s %s/%s; nothing was pushed", file, f.Via.Name, d.Kind, d.Namespace, d.Name)
}

// pinned is what a rendered source object of kind pins (its tag or digest), and its
// ref as messages show it.
func pinned(obj map[string]any, kind string) (string, string, error) {
	if kind == KindOCIRepository {
		got := &sourcev1.OCIRepository{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, got); err != nil {
			return "", "", err
		}
		ref := flux.OCIRefOf(got)
		return ref.Digest, ref.String(), nil
	}
	got := &sourcev1.GitRepository{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, got); err != nil {
		return "", "", err
	}
	return flux.RefOf(got).PinnedTag(), flux.RefOf(got).String(), nil
}

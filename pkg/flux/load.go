package flux

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Environment is one Flux environment as read live from its cluster.
type Environment struct {
	// Ref is the resolved reference: Context is never empty.
	Ref Ref
	// Name is how messages and commit subjects call the environment.
	Name          string
	Cluster       *Cluster
	Kustomization *kustomizev1.Kustomization
	Source        *sourcev1.GitRepository
	// OCISource is set instead of Source for a Kustomization reading an
	// OCIRepository, loaded with LoadAnyFrom.
	OCISource *sourcev1.OCIRepository
}

// Load reads an environment's Kustomization and GitRepository. A context-only
// reference without a Kustomization name picks the context's only Kustomization, or
// fails listing them.
func Load(ctx context.Context, clients *Clients, spec RefSpec) (*Environment, error) {
	cluster, err := clients.Cluster(spec.Ref.Context)
	if err != nil {
		return nil, err
	}
	return LoadFrom(ctx, cluster, spec)
}

// LoadFrom is Load on a cluster already connected to.
func LoadFrom(ctx context.Context, cluster *Cluster, spec RefSpec) (*Environment, error) {
	ref := spec.Ref
	ref.Context = cluster.Context
	if ref.Name == "" {
		names, err := ListKustomizations(ctx, cluster, ref.Namespace)
		if err != nil {
			return nil, err
		}
		switch len(names) {
		case 0:
			return nil, fmt.Errorf("no Kustomizations in namespace %q of context %q; name the namespace with -n or NAMESPACE/NAME", ref.Namespace, ref.Context)
		case 1:
			ref.Name = names[0]
		default:
			return nil, &AmbiguousError{Context: ref.Context, Namespace: ref.Namespace, Names: names}
		}
	}
	env := &Environment{Ref: ref, Cluster: cluster, Name: ref.Display(spec.ByContext)}
	ks := &kustomizev1.Kustomization{}
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, ks); err != nil {
		if objectNotFound(err) {
			names, lerr := ListKustomizations(ctx, cluster, ref.Namespace)
			found := "none"
			if lerr == nil && len(names) > 0 {
				found = strings.Join(names, ", ")
			}
			return nil, fmt.Errorf("Kustomization %s/%s not found in context %q (Kustomizations in %s: %s)", ref.Namespace, ref.Name, ref.Context, ref.Namespace, found)
		}
		return nil, APIError(err, "get", "kustomizations.kustomize.toolkit.fluxcd.io", ref.Namespace+"/"+ref.Name, ref.Context)
	}
	env.Kustomization = ks
	src := ks.Spec.SourceRef
	srcNS := src.Namespace
	if srcNS == "" {
		srcNS = ks.Namespace
	}
	if src.Kind != sourcev1.GitRepositoryKind {
		return nil, &SourceKindError{Env: env, Kind: src.Kind, Namespace: srcNS, Name: src.Name}
	}
	repo := &sourcev1.GitRepository{}
	if err := getShared(ctx, cluster, client.ObjectKey{Namespace: srcNS, Name: src.Name}, repo); err != nil {
		if objectNotFound(err) {
			return nil, fmt.Errorf("GitRepository %s/%s (the source of Kustomization %s/%s) not found in context %q", srcNS, src.Name, ks.Namespace, ks.Name, ref.Context)
		}
		return nil, APIError(err, "get", "gitrepositories.source.toolkit.fluxcd.io", srcNS+"/"+src.Name, ref.Context)
	}
	env.Source = repo
	return env, nil
}

// AmbiguousError says an environment given as a context names no Kustomization and
// the context has several. Its message shows promote's syntax; the other commands
// say how to name one in theirs.
type AmbiguousError struct {
	Context, Namespace string
	// Names are the Kustomizations in the namespace, sorted.
	Names []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("context %q has %d Kustomizations in namespace %q (%s): name the one to promote, e.g. \"kubectl promote %s --from ... --to ...\"",
		e.Context, len(e.Names), e.Namespace, strings.Join(e.Names, ", "), e.Names[0])
}

// ListKustomizations lists the names of the Kustomizations in a namespace, sorted.
func ListKustomizations(ctx context.Context, cluster *Cluster, namespace string) ([]string, error) {
	list := &kustomizev1.KustomizationList{}
	if err := cluster.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, APIError(err, "list", "kustomizations.kustomize.toolkit.fluxcd.io", namespace+"/*", cluster.Context)
	}
	names := make([]string, 0, len(list.Items))
	for _, ks := range list.Items {
		names = append(names, ks.Name)
	}
	sort.Strings(names)
	return names, nil
}

// APIError turns an API failure into an error that says what to do about it: Flux
// not installed, a missing RBAC permission (naming the verb and resource), or the
// API server unreachable.
func APIError(err error, verb, resource, object, context string) error {
	var noMatch *apimeta.NoKindMatchError
	switch {
	case apimeta.IsNoMatchError(err) || errors.As(err, &noMatch) || NotServed(err):
		return fmt.Errorf("Flux is not installed in context %q: the API server does not serve %s; install Flux there (\"flux install\") or pick another context", context, resource)
	case apierrors.IsForbidden(err):
		return &ForbiddenError{Verb: verb, Resource: resource, Object: object, Context: context, Err: err}
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("context %q: the API server rejected the credentials (Unauthorized); log in again or check the context's user", context)
	}
	return fmt.Errorf("context %q: %s %s %s: %w", context, verb, resource, object, err)
}

// ForbiddenError is a missing RBAC permission.
type ForbiddenError struct {
	Verb, Resource, Object, Context string
	Err                             error
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("forbidden: cannot %s %s %s in context %q: %v; grant %q on %s (the Role kubectl-promote needs is in its README)",
		e.Verb, e.Resource, e.Object, e.Context, e.Err, e.Verb, e.Resource)
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

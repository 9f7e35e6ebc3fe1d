package flux

import (
	"context"
	"errors"
	"fmt"
	"strings"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SourceKindError is LoadFrom meeting a Kustomization whose source is not a
// GitRepository. Env is the environment loaded so far (its Kustomization set).
type SourceKindError struct {
	Env                   *Environment
	Kind, Namespace, Name string
}

func (e *SourceKindError) Error() string {
	ks := e.Env.Kustomization
	return fmt.Sprintf("Kustomization %s/%s in context %q reads from %s %s/%s: only GitRepository sources are supported yet",
		ks.Namespace, ks.Name, e.Env.Ref.Context, e.Kind, e.Namespace, e.Name)
}

// LoadAnyFrom is LoadFrom that also accepts a Kustomization reading from an
// OCIRepository: the environment then has OCISource set and Source nil. Other kinds
// (Bucket, ExternalArtifact) are refused as LoadFrom refuses them.
func LoadAnyFrom(ctx context.Context, cluster *Cluster, spec RefSpec) (*Environment, error) {
	env, err := LoadFrom(ctx, cluster, spec)
	var kind *SourceKindError
	if !errors.As(err, &kind) || kind.Kind != sourcev1.OCIRepositoryKind {
		return env, err
	}
	env = kind.Env
	repo := &sourcev1.OCIRepository{}
	ks := env.Kustomization
	if err := getShared(ctx, cluster, client.ObjectKey{Namespace: kind.Namespace, Name: kind.Name}, repo); err != nil {
		if objectNotFound(err) {
			return nil, fmt.Errorf("OCIRepository %s/%s (the source of Kustomization %s/%s) not found in context %q", kind.Namespace, kind.Name, ks.Namespace, ks.Name, cluster.Context)
		}
		return nil, APIError(err, "get", "ocirepositories.source.toolkit.fluxcd.io", kind.Namespace+"/"+kind.Name, cluster.Context)
	}
	env.OCISource = repo
	return env, nil
}

// OCISourceOf reads the OCIRepository a Kustomization reads from, or nil when it
// reads another kind of source.
func OCISourceOf(ctx context.Context, cluster *Cluster, ks *kustomizev1.Kustomization) (*sourcev1.OCIRepository, error) {
	repo := &sourcev1.OCIRepository{}
	if ok, err := readSource(ctx, cluster, ks, sourcev1.OCIRepositoryKind, "ocirepositories", repo); !ok {
		return nil, err
	}
	return repo, nil
}

// OCI ref kinds, in source-controller's order of precedence.
const (
	OCIRefDigest = "digest"
	OCIRefSemver = "semver"
	OCIRefTag    = "tag"
)

// OCIRef is what an OCIRepository follows, as source-controller reads spec.ref:
// a digest wins over a semver range, which wins over a tag; with none set, the tag
// "latest".
type OCIRef struct {
	// Kind is OCIRefDigest, OCIRefSemver or OCIRefTag.
	Kind                              string
	Tag, SemVer, SemverFilter, Digest string
}

// OCIRefOf is repo's effective reference.
func OCIRefOf(repo *sourcev1.OCIRepository) OCIRef {
	r := repo.Spec.Reference
	switch {
	case r != nil && r.Digest != "":
		return OCIRef{Kind: OCIRefDigest, Digest: r.Digest}
	case r != nil && r.SemVer != "":
		return OCIRef{Kind: OCIRefSemver, SemVer: r.SemVer, SemverFilter: r.SemverFilter}
	case r != nil && r.Tag != "":
		return OCIRef{Kind: OCIRefTag, Tag: r.Tag}
	}
	return OCIRef{Kind: OCIRefTag, Tag: "latest"}
}

// String is the ref as users write it: "tag production", "semver >=1.0.0", "digest sha256:…".
func (r OCIRef) String() string {
	switch r.Kind {
	case OCIRefDigest:
		return "digest " + r.Digest
	case OCIRefSemver:
		if r.SemverFilter != "" {
			return fmt.Sprintf("semver %s (filter %s)", r.SemVer, r.SemverFilter)
		}
		return "semver " + r.SemVer
	}
	return "tag " + r.Tag
}

// OCIArtifact is an OCIRepository's current artifact as its status says.
type OCIArtifact struct {
	// Revision is status.artifact.revision: "<tag>@sha256:<hex>" or "sha256:<hex>".
	Revision string
	// Tag is the revision's tag ("" for a digest ref), Digest the manifest digest
	// "sha256:<hex>".
	Tag, Digest string
	// OriginRevision is the org.opencontainers.image.revision annotation source-
	// controller copied to status.artifact.metadata (flux push --revision).
	OriginRevision string
	// Source is the org.opencontainers.image.source annotation.
	Source string
}

// OCIArtifactOf parses repo's status.artifact; ok is false while it has none.
func OCIArtifactOf(repo *sourcev1.OCIRepository) (a OCIArtifact, ok bool, err error) {
	art := repo.Status.Artifact
	if art == nil || art.Revision == "" {
		return OCIArtifact{}, false, nil
	}
	a, err = ParseOCIRevision(art.Revision)
	if err != nil {
		return OCIArtifact{}, false, fmt.Errorf("OCIRepository %s/%s: %w", repo.Namespace, repo.Name, err)
	}
	a.OriginRevision = art.Metadata["org.opencontainers.image.revision"]
	a.Source = art.Metadata["org.opencontainers.image.source"]
	return a, true, nil
}

// ParseOCIRevision parses an OCI artifact revision as source-controller writes it
// (and a Kustomization records it as lastAppliedRevision).
func ParseOCIRevision(rev string) (OCIArtifact, error) {
	r, err := ParseRevision(rev)
	if err != nil {
		return OCIArtifact{}, err
	}
	if r.Algorithm == "" || r.Algorithm == "sha1" {
		return OCIArtifact{}, fmt.Errorf("invalid OCI revision %q: expected <tag>@sha256:<digest> or sha256:<digest>", rev)
	}
	return OCIArtifact{Revision: strings.TrimSpace(rev), Tag: r.Ref, Digest: r.Algorithm + ":" + r.Digest}, nil
}

// OCIAppliedOf is what a Kustomization reading an OCIRepository last applied: its
// status.lastAppliedRevision parsed, with status.lastAppliedOriginRevision (the Git
// commit flux push recorded) as OriginRevision; ok is false before the first apply.
func OCIAppliedOf(ks *kustomizev1.Kustomization) (a OCIArtifact, ok bool, err error) {
	if ks.Status.LastAppliedRevision == "" {
		return OCIArtifact{}, false, nil
	}
	a, err = ParseOCIRevision(ks.Status.LastAppliedRevision)
	if err != nil {
		return OCIArtifact{}, false, fmt.Errorf("Kustomization %s/%s lastAppliedRevision: %w", ks.Namespace, ks.Name, err)
	}
	a.OriginRevision = ks.Status.LastAppliedOriginRevision
	return a, true, nil
}

// LoadAny is Load that also accepts a Kustomization reading from an OCIRepository
// (see LoadAnyFrom).
func LoadAny(ctx context.Context, clients *Clients, spec RefSpec) (*Environment, error) {
	cluster, err := clients.Cluster(spec.Ref.Context)
	if err != nil {
		return nil, err
	}
	return LoadAnyFrom(ctx, cluster, spec)
}

// SourceObject is the Flux source env's Kustomization reads: its GitRepository or
// its OCIRepository.
func (e *Environment) SourceObject() client.Object {
	if e.OCISource != nil {
		return e.OCISource
	}
	return e.Source
}

// SourceResource is the API resource of env's source, as RBAC names it.
func (e *Environment) SourceResource() string {
	if e.OCISource != nil {
		return "ocirepositories"
	}
	return "gitrepositories"
}

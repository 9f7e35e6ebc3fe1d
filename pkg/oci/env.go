package oci

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// Options are how the commands reach registries: explicit credentials (the registry
// flags or KUBECTL_PROMOTE_REGISTRY_*), or the OCIRepository's own spec.secretRef
// when UseSecretRef (--registry-secret); without either, Docker's config.json and its
// credential helpers.
type Options struct {
	Credentials  Credentials
	UseSecretRef bool
	// Timeout bounds each registry operation; zero is DefaultTimeout.
	Timeout time.Duration
}

// ClientFor is the client for the OCIRepository env reads: spec.insecure honoured,
// and its credentials as o says. Reading spec.secretRef needs "get" on the Secret;
// its data never appears in an error.
func ClientFor(ctx context.Context, env *flux.Environment, o Options) (*Client, error) {
	src := env.OCISource
	c := &Client{Insecure: src.Spec.Insecure, Timeout: o.Timeout, Auth: o.Credentials.Authenticator()}
	if c.Auth != nil || !o.UseSecretRef || src.Spec.SecretRef == nil {
		return c, nil
	}
	repo, err := c.Repository(src.Spec.URL)
	if err != nil {
		return nil, err
	}
	key := client.ObjectKey{Namespace: src.Namespace, Name: src.Spec.SecretRef.Name}
	secret := &corev1.Secret{}
	if err := env.Cluster.Client.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %s (spec.secretRef of OCIRepository %s/%s) not found in context %q", key, src.Namespace, src.Name, env.Cluster.Context)
		}
		return nil, flux.APIError(err, "get", "secrets", key.String(), env.Cluster.Context)
	}
	data, ok := secret.Data[corev1.DockerConfigJsonKey]
	if !ok {
		return nil, fmt.Errorf("secret %s (spec.secretRef of OCIRepository %s/%s) has no %s: it must be a kubernetes.io/dockerconfigjson Secret", key, src.Namespace, src.Name, corev1.DockerConfigJsonKey)
	}
	if c.Auth, err = AuthFromDockerConfigJSON(data, repo.RegistryStr()); err != nil {
		return nil, fmt.Errorf("secret %s: %w", key, err)
	}
	return c, nil
}

// StrategyFor is how a promotion from source to target is written, read from the
// target's OCIRepository alone (no registry call): pin, semver, copy or retag. A mix
// of a Git and an OCI environment is refused with one line.
func StrategyFor(source, target *flux.Environment) (string, error) {
	if err := RefuseMix(source, target); err != nil {
		return "", err
	}
	src, err := (&Client{Insecure: source.OCISource.Spec.Insecure}).Repository(source.OCISource.Spec.URL)
	if err != nil {
		return "", err
	}
	dst, err := (&Client{Insecure: target.OCISource.Spec.Insecure}).Repository(target.OCISource.Spec.URL)
	if err != nil {
		return "", err
	}
	return strategyFor(flux.OCIRefOf(target.OCISource), src, dst), nil
}

// Flags are the promotion's flags a registry strategy reads or refuses.
type Flags struct {
	// Strategy is --strategy: empty or "auto" takes the one the target calls for.
	Strategy string
	// Release is --bump or --tag, for a target following a semver range.
	Release bool
	// Git is --branch, --include-unreleased or --ff-only, which move Git branches.
	Git bool
}

// Choose is StrategyFor, refusing with one line what the flags ask that it does
// not do: another --strategy, a release for a target that follows no range, Git's
// flags, and a promotion from an environment to itself.
func Choose(source, target *flux.Environment, f Flags) (string, error) {
	name, err := StrategyFor(source, target)
	if err != nil {
		return "", err
	}
	src := target.OCISource
	if source.Ref == target.Ref {
		return "", fmt.Errorf("--from and --to name the same Kustomization %s", source.Ref)
	}
	if f.Strategy != "" && f.Strategy != "auto" && f.Strategy != name {
		return "", fmt.Errorf("--strategy %s: OCIRepository %s/%s of %s follows %s, which the %s strategy reaches: use --strategy %s (or auto)",
			f.Strategy, src.Namespace, src.Name, target.Name, flux.OCIRefOf(src), name, name)
	}
	if name != StrategySemver && f.Release {
		return "", fmt.Errorf("--bump and --tag are for a target that follows a semver range; OCIRepository %s/%s of %s follows %s",
			src.Namespace, src.Name, target.Name, flux.OCIRefOf(src))
	}
	if f.Git {
		return "", fmt.Errorf("--branch, --include-unreleased and --ff-only move Git branches; %s reads an OCIRepository", target.Name)
	}
	return name, nil
}

// UndoStrategy is the strategy whose undo moves back what a target following ref
// reads, chosen from the target alone (a rollback has no source): a tag's move back
// is the same for a retag and a copy (the digest is in the target's repository
// either way), so retag; a semver range or a digest pin as for a promotion, which
// refuse a rollback.
func UndoStrategy(ref flux.OCIRef) string {
	switch ref.Kind {
	case flux.OCIRefDigest:
		return StrategyPin
	case flux.OCIRefSemver:
		return StrategySemver
	}
	return StrategyRetag
}

// HistoryTag is the tag whose promotion records are env's history: the tag its
// OCIRepository follows, or for a semver range the version tag it applied.
func HistoryTag(env *flux.Environment) (string, error) {
	ref := flux.OCIRefOf(env.OCISource)
	switch ref.Kind {
	case flux.OCIRefTag:
		return ref.Tag, nil
	case flux.OCIRefSemver:
		if a, ok, err := flux.OCIAppliedOf(env.Kustomization); err != nil || ok {
			return a.Tag, err
		}
		return "", fmt.Errorf("%s has applied nothing yet: no version tag to read the history of", env.Name)
	}
	return "", fmt.Errorf("OCIRepository %s/%s of %s pins %s: a digest pin moves in Git, not in the registry, and has no registry history", env.OCISource.Namespace, env.OCISource.Name, env.Name, ref)
}

// HistoryOf is where env's promotion records are read: the client for its
// registry (ClientFor), the repository its OCIRepository reads, and HistoryTag.
func HistoryOf(ctx context.Context, env *flux.Environment, o Options) (*Client, name.Repository, string, error) {
	tag, err := HistoryTag(env)
	if err != nil {
		return nil, name.Repository{}, "", err
	}
	c, err := ClientFor(ctx, env, o)
	if err != nil {
		return nil, name.Repository{}, "", err
	}
	repo, err := c.Repository(env.OCISource.Spec.URL)
	return c, repo, tag, err
}

// EnvHistory is env's promotions and rollbacks, newest first (at most limit), from
// the promotion records the registry holds for its tag ("kubectl promote history"
// of an OCI environment).
func EnvHistory(ctx context.Context, env *flux.Environment, o Options, limit int) ([]v1alpha1.HistoryEntry, error) {
	c, repo, tag, err := HistoryOf(ctx, env, o)
	if err != nil {
		return nil, err
	}
	_, recs, err := c.History(ctx, repo, tag, limit)
	return Entries(recs), err
}

// Describe is an environment reading an OCIRepository, as the commands' documents
// show it: its revision, and the origin revision when it is the one applied.
func Describe(env *flux.Environment, revision string) v1alpha1.Environment {
	src := env.OCISource
	e := v1alpha1.Environment{Name: env.Name, Context: env.Ref.Context, Namespace: env.Ref.Namespace, Kustomization: env.Ref.Name,
		OCIRepository: src.Namespace + "/" + src.Name, URL: src.Spec.URL, Ref: flux.OCIRefOf(src).String(),
		Path: env.Kustomization.Spec.Path, Revision: revision}
	if revision != "" && flux.SameRevision(revision, env.Kustomization.Status.LastAppliedRevision) {
		e.OriginRevision = env.Kustomization.Status.LastAppliedOriginRevision
	}
	return e
}

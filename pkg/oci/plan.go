package oci

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/release"
)

// StrategyPin is a target that pins spec.ref.digest: the pin is edited in Git, not
// in the registry (the Git pipeline's job: pkg/promote's pin strategy; this package
// plans it, and copies the digest into the target's repository when it reads
// another one, Provide).
const StrategyPin = "pin"

// Plan is one OCI promotion: the digest the source environment applied and what
// writing it to the target means.
type Plan struct {
	// Strategy is retag, copy, semver or pin, chosen from the target's ref and URL.
	Strategy string
	// Source is the source environment's repository, Digest the digest it applied
	// (its Kustomization's lastAppliedRevision) and OriginRevision the Git commit
	// recorded with it.
	Source         name.Repository
	Digest         v1.Hash
	SourceRevision string
	OriginRevision string
	// Target is the target's repository and Ref what its OCIRepository follows;
	// Current is the digest it serves now (zero when its tag or range selects none).
	Target  name.Repository
	Ref     flux.OCIRef
	Current v1.Hash
	// TargetSelector is the target's layerSelector, to render what it would unpack.
	TargetSelector *sourcev1.OCILayerSelector
}

// UpToDate is true when the target already serves the digest: nothing to promote.
func (p *Plan) UpToDate() bool { return p.Current == p.Digest }

// RevisionOf is digest d as the target's revision in a plan: "tag@sha256:…" for a
// target following a tag, "none" when its tag or range selects nothing yet.
func (p *Plan) RevisionOf(d v1.Hash) string {
	if d == (v1.Hash{}) {
		return "none"
	}
	if p.Ref.Kind == flux.OCIRefTag {
		return p.Ref.Tag + "@" + d.String()
	}
	return d.String()
}

// DigestString is d as documents show a digest: "" for none (a tag that did not
// exist), which their JSON omits.
func DigestString(d v1.Hash) string {
	if d == (v1.Hash{}) {
		return ""
	}
	return d.String()
}

// NextRelease is the version tag a semver promotion releases: tag when given
// (--tag), else the version the target's range selects now bumped by bump (--bump,
// as release.NextTag does for a Git tag).
func (c *Client) NextRelease(ctx context.Context, p *Plan, tag, bump string) (string, error) {
	if tag != "" {
		return tag, nil
	}
	tags, err := c.Tags(ctx, p.Target)
	if err != nil {
		return "", err
	}
	cur, err := SelectSemver(p.Ref.SemVer, p.Ref.SemverFilter, tags)
	if err != nil {
		return "", err
	}
	if cur == "" {
		return "", fmt.Errorf("the semver range %q selects no tag of %s yet: name the first version with --tag", p.Ref.SemVer, p.Target)
	}
	return release.NextTag(cur, bump)
}

// PlanPromotion plans promoting what source applied to target, both environments
// reading an OCIRepository. A mix of a Git and an OCI environment is refused with
// one line. Reading the target's current digest needs the registry.
func (c *Client) PlanPromotion(ctx context.Context, source, target *flux.Environment) (*Plan, error) {
	if err := RefuseMix(source, target); err != nil {
		return nil, err
	}
	applied, ok, err := flux.OCIAppliedOf(source.Kustomization)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s has applied nothing yet (Kustomization %s/%s has no lastAppliedRevision): wait for Flux, \"flux get kustomizations\"", source.Name, source.Kustomization.Namespace, source.Kustomization.Name)
	}
	p := &Plan{SourceRevision: applied.Revision, OriginRevision: applied.OriginRevision,
		Ref: flux.OCIRefOf(target.OCISource), TargetSelector: target.OCISource.Spec.LayerSelector}
	if p.Digest, err = ParseDigest(applied.Digest); err != nil {
		return nil, err
	}
	if p.Source, err = (&Client{Insecure: source.OCISource.Spec.Insecure}).Repository(source.OCISource.Spec.URL); err != nil {
		return nil, err
	}
	tc := &Client{Insecure: target.OCISource.Spec.Insecure}
	if p.Target, err = tc.Repository(target.OCISource.Spec.URL); err != nil {
		return nil, err
	}
	p.Strategy = strategyFor(p.Ref, p.Source, p.Target)
	p.Current, err = c.current(ctx, p)
	return p, err
}

// RefuseMix refuses a promotion between a Git and an OCI environment, in one line.
func RefuseMix(source, target *flux.Environment) error {
	kind := func(e *flux.Environment) string {
		if e.OCISource != nil {
			return "an " + sourcev1.OCIRepositoryKind
		}
		return "a " + sourcev1.GitRepositoryKind
	}
	if source.OCISource == nil || target.OCISource == nil {
		return fmt.Errorf("cannot promote from %s (reads from %s) to %s (reads from %s): both environments must read the same kind of source", source.Name, kind(source), target.Name, kind(target))
	}
	return nil
}

// strategyFor picks how to write a digest to a target following ref in dst.
func strategyFor(ref flux.OCIRef, src, dst name.Repository) string {
	switch {
	case ref.Kind == flux.OCIRefDigest:
		return StrategyPin
	case ref.Kind == flux.OCIRefSemver:
		return StrategySemver
	case src.String() != dst.String():
		return StrategyCopy
	}
	return StrategyRetag
}

// current is the digest the target's ref selects in the registry now.
func (c *Client) current(ctx context.Context, p *Plan) (v1.Hash, error) {
	ref := p.Ref.Tag
	switch p.Ref.Kind {
	case flux.OCIRefDigest:
		return ParseDigest(p.Ref.Digest)
	case flux.OCIRefSemver:
		tags, err := c.Tags(ctx, p.Target)
		if err != nil {
			return v1.Hash{}, err
		}
		if ref, err = SelectSemver(p.Ref.SemVer, p.Ref.SemverFilter, tags); err != nil || ref == "" {
			return v1.Hash{}, err
		}
	}
	d, err := c.Resolve(ctx, p.Target, ref)
	if errors.Is(err, ErrNotFound) {
		return v1.Hash{}, nil
	}
	return d, err
}

// Apply writes the plan to the registry: retag or copy to the target's tag, or a
// semver release of tag (required for semver, ignored otherwise; the digest copied
// first when the target reads another repository). A pin is refused: it is a Git
// edit.
func (c *Client) Apply(ctx context.Context, p *Plan, tag string, rec Record) (*Result, error) {
	rec.OriginRevision = orDefault(rec.OriginRevision, p.OriginRevision)
	switch p.Strategy {
	case StrategyRetag:
		return c.Retag(ctx, p.Target, p.Digest, p.Ref.Tag, rec)
	case StrategyCopy:
		return c.Copy(ctx, p.Source, p.Digest, p.Target, p.Ref.Tag, rec)
	case StrategySemver:
		if tag == "" {
			return nil, fmt.Errorf("the target follows the semver range %q: name the version to release with --tag (or --bump)", p.Ref.SemVer)
		}
		if p.Source.String() != p.Target.String() {
			if err := c.copyDigest(ctx, p.Source, p.Digest, p.Target); err != nil {
				return nil, err
			}
		}
		return c.Release(ctx, p.Target, p.Digest, tag, p.Ref.SemVer, p.Ref.SemverFilter, rec)
	}
	return nil, fmt.Errorf("the target pins %s in spec.ref.digest: the pin is edited in Git (strategy %s), not moved in the registry", p.Ref.Digest, StrategyPin)
}

// Provide makes the digest the source applied available in the target's repository,
// for a pin (the target's OCIRepository pins it by digest, and reads its own
// repository): nothing when both read one repository or the target's already has
// it, else the manifest and its blobs copied by digest as the copy strategy copies
// them (no tag, no record: a pin's record is its commit). copied says it copied.
func (c *Client) Provide(ctx context.Context, p *Plan) (copied bool, err error) {
	if p.Source.String() == p.Target.String() {
		return false, nil
	}
	if _, err := c.Resolve(ctx, p.Target, p.Digest.String()); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	return true, c.copyDigest(ctx, p.Source, p.Digest, p.Target)
}

// Fetch unpacks, as the target's OCIRepository would (its layerSelector), the digest
// the source applied into dir/source and the digest the target serves now into
// dir/target, for rendering both with the Kustomization's spec.path. targetDir is
// empty when the target serves nothing yet.
func (c *Client) Fetch(ctx context.Context, p *Plan, dir string) (sourceDir, targetDir string, err error) {
	sourceDir = filepath.Join(dir, "source")
	if _, err := c.Pull(ctx, p.Source, p.Digest.String(), p.TargetSelector, sourceDir); err != nil {
		return "", "", err
	}
	if p.Current == (v1.Hash{}) {
		return sourceDir, "", nil
	}
	targetDir = filepath.Join(dir, "target")
	if _, err := c.Pull(ctx, p.Target, p.Current.String(), p.TargetSelector, targetDir); err != nil {
		return "", "", err
	}
	return sourceDir, targetDir, nil
}

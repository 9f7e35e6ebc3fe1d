package oci

import (
	"context"
	"fmt"
	"os"
	"strings"

	fluxoci "github.com/fluxcd/pkg/oci"
	"github.com/fluxcd/pkg/tar"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifact is one manifest in a registry as an OCIRepository would read it.
type Artifact struct {
	Repository name.Repository
	// Tag is the tag it was resolved from; empty when read by digest.
	Tag string
	// Digest is the manifest's digest.
	Digest v1.Hash
	// MediaType is the manifest's media type.
	MediaType types.MediaType
	Manifest  *v1.Manifest
	raw       []byte
}

// Revision is what source-controller writes as status.artifact.revision for it:
// "<tag>@sha256:<hex>" when followed by tag or semver, "sha256:<hex>" by digest.
func (a *Artifact) Revision() string {
	if a.Tag == "" {
		return a.Digest.String()
	}
	return a.Tag + "@" + a.Digest.String()
}

// Source is the org.opencontainers.image.source annotation (flux push --source).
func (a *Artifact) Source() string { return a.Manifest.Annotations[fluxoci.SourceAnnotation] }

// OriginRevision is the org.opencontainers.image.revision annotation (flux push
// --revision), what a Kustomization records as lastAppliedOriginRevision.
func (a *Artifact) OriginRevision() string {
	return a.Manifest.Annotations[fluxoci.RevisionAnnotation]
}

// Created is the org.opencontainers.image.created annotation.
func (a *Artifact) Created() string { return a.Manifest.Annotations[fluxoci.CreatedAnnotation] }

// ParseDigest parses "sha256:<hex>" or a Flux revision "<tag>@sha256:<hex>".
func ParseDigest(s string) (v1.Hash, error) {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	h, err := v1.NewHash(s)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("invalid digest %q: expected sha256:<64 hex digits>", s)
	}
	return h, nil
}

// reference is repo at ref, a tag or a "sha256:…" digest.
func reference(repo name.Repository, ref string) (name.Reference, string) {
	if strings.Contains(ref, ":") {
		return repo.Digest(ref), "digest " + ref
	}
	return repo.Tag(ref), "tag " + ref
}

// Resolve is the digest tag (or a digest, checked to exist) names now, read with a
// HEAD request as source-controller does.
func (c *Client) Resolve(ctx context.Context, repo name.Repository, ref string) (v1.Hash, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	r, what := reference(repo, ref)
	desc, err := remote.Head(r, c.options(ctx)...)
	if err != nil {
		return v1.Hash{}, c.classify(err, access{repo: repo, what: what})
	}
	return desc.Digest, nil
}

// Get reads the manifest a tag or digest names. It refuses an index or anything
// that is not an image manifest: Flux artifacts are single manifests.
func (c *Client) Get(ctx context.Context, repo name.Repository, ref string) (*Artifact, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	r, what := reference(repo, ref)
	desc, err := remote.Get(r, c.options(ctx)...)
	if err != nil {
		return nil, c.classify(err, access{repo: repo, what: what})
	}
	if !desc.MediaType.IsImage() {
		return nil, newError(ErrMediaType, "%s of %s is a %s, not a Flux artifact (an image manifest with config %s): push it with \"flux push artifact\"", what, repo, desc.MediaType, fluxoci.CanonicalConfigMediaType)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return nil, newError(ErrMediaType, "%s of %s: unreadable manifest: %v", what, repo, err)
	}
	a := &Artifact{Repository: repo, Digest: desc.Digest, MediaType: desc.MediaType, Manifest: m, raw: desc.Manifest}
	if !strings.Contains(ref, ":") {
		a.Tag = ref
	}
	return a, nil
}

// Layer is the layer an OCIRepository with selector sel takes from a, as
// source-controller picks it: the first layer without a selector, else the first
// whose media type is sel.MediaType. Without a selector the artifact must be Flux's
// (config application/vnd.cncf.flux.config.v1+json); with one, the user named the
// media type they want.
func (a *Artifact) Layer(sel *sourcev1.OCILayerSelector) (v1.Descriptor, error) {
	where := a.Repository.String() + "@" + a.Digest.String()
	if sel == nil || sel.MediaType == "" {
		if a.Manifest.Config.MediaType != fluxoci.CanonicalConfigMediaType {
			return v1.Descriptor{}, newError(ErrMediaType, "%s is not a Flux artifact: config media type %q, want %q; push it with \"flux push artifact\" or set the OCIRepository's spec.layerSelector", where, a.Manifest.Config.MediaType, fluxoci.CanonicalConfigMediaType)
		}
		if len(a.Manifest.Layers) == 0 {
			return v1.Descriptor{}, newError(ErrLayer, "%s has no layers", where)
		}
		return a.Manifest.Layers[0], nil
	}
	var found []string
	for _, l := range a.Manifest.Layers {
		if string(l.MediaType) == sel.MediaType {
			return l, nil
		}
		found = append(found, string(l.MediaType))
	}
	return v1.Descriptor{}, newError(ErrLayer, "spec.layerSelector.mediaType %q matches no layer of %s (layers: %s)", sel.MediaType, where, strings.Join(found, ", "))
}

// Unpack extracts the layer sel selects from a into dir (created if missing), with
// fluxcd/pkg/tar as source-controller does. Both of Flux's operations end in a
// tar+gzip kustomize-controller unpacks, so "copy" unpacks too.
func (c *Client) Unpack(ctx context.Context, a *Artifact, sel *sourcev1.OCILayerSelector, dir string) error {
	l, err := a.Layer(sel)
	if err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	layer, err := remote.Layer(a.Repository.Digest(l.Digest.String()), c.options(ctx)...)
	if err != nil {
		return c.classify(err, access{repo: a.Repository, what: "layer " + l.Digest.String()})
	}
	rc, err := layer.Compressed()
	if err != nil {
		return c.classify(err, access{repo: a.Repository, what: "layer " + l.Digest.String()})
	}
	defer rc.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := tar.Untar(rc, dir, tar.WithMaxUntarSize(-1)); err != nil {
		if cerr := c.classify(ctx.Err(), access{repo: a.Repository, what: "layer " + l.Digest.String()}); cerr != nil {
			return cerr
		}
		return newError(ErrMediaType, "layer %s of %s@%s is not a tar+gzip Flux can extract: %v", l.Digest, a.Repository, a.Digest, err)
	}
	return nil
}

// Pull reads the artifact ref names and unpacks its selected layer into dir.
func (c *Client) Pull(ctx context.Context, repo name.Repository, ref string, sel *sourcev1.OCILayerSelector, dir string) (*Artifact, error) {
	a, err := c.Get(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	return a, c.Unpack(ctx, a, sel, dir)
}

package ociregistry

import (
	"context"
	"time"

	fluxoci "github.com/fluxcd/pkg/oci"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
)

// Artifact is what "flux push artifact" is told about one push.
type Artifact struct {
	// Ref is where to push: "127.0.0.1:<port>/app:tag" (no oci:// prefix).
	Ref string
	// Dir is the directory packed as the tarball layer.
	Dir string
	// Source and Revision become org.opencontainers.image.source and .revision
	// (flux push artifact --source, --revision: "main@sha1:<sha>").
	Source, Revision string
	// Created pins org.opencontainers.image.created (--reproducible); zero is now.
	Created time.Time
	// Auth logs in to a registry with Users; nil is anonymous.
	Auth authn.Authenticator
}

// Push pushes an artifact with fluxcd/pkg/oci's Client.Push, the code "flux push
// artifact" runs: one tar+gzip layer of application/vnd.cncf.flux.content.v1.tar+gzip,
// config application/vnd.cncf.flux.config.v1+json, and the created, source and
// revision annotations. It returns "<repository>@sha256:<digest>".
func Push(ctx context.Context, a Artifact) (string, error) {
	meta := fluxoci.Metadata{Source: a.Source, Revision: a.Revision}
	if !a.Created.IsZero() {
		meta.Created = a.Created.UTC().Format(time.RFC3339)
	}
	opts := []crane.Option{crane.Insecure}
	if a.Auth != nil {
		opts = append(opts, crane.WithAuth(a.Auth))
	}
	c := fluxoci.NewClient(opts)
	return c.Push(ctx, a.Ref, a.Dir, fluxoci.WithPushMetadata(meta))
}

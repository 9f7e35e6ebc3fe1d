package e2e

import (
	"context"
	"testing"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
)

// testOCICopyAndSemverThroughTheCLI: the two strategies besides the tag move, through
// kubectl promote --wait against real Flux and a real registry. A target reading
// another repository has the digest staging applied copied there by digest and
// tagged (strategy copy; the first copy creates the tag), and a target following a
// semver range gets a new version tag for it (strategy semver, --bump minor after
// v1.0.0). Flux applies both, and each write is recorded where it was made.
func testOCICopyAndSemverThroughTheCLI(t *testing.T, g *gitless) {
	ctx := context.Background()
	d1, d2 := g.staged()
	other := g.name + "/prod/app"
	g.env("copied", "stable", false, func(s *sourcev1.OCIRepositorySpec) { s.URL = g.reg.URL(other) })

	r := g.promote("--from", g.ref("staging"), "--to", g.ref("copied"), "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseOCIDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.Equal(t, oci.StrategyCopy, d.Strategy)
	require.NotNil(t, d.Artifact)
	require.Equal(t, d2, d.Artifact.Digest)
	require.Equal(t, "stable", d.Artifact.Tag)
	require.Empty(t, d.Artifact.Previous, "the first copy creates the tag")
	require.True(t, d.Reconcile.Ready, r.String())
	require.Equal(t, "stable@"+d2, d.Reconcile.AppliedRevision)
	dst, err := g.registry.Repository(g.reg.URL(other))
	require.NoError(t, err)
	got, err := g.registry.Resolve(ctx, dst, "stable")
	require.NoError(t, err)
	require.Equal(t, d2, got.String(), "copied into the other repository and tagged")
	_, hist, err := g.registry.History(ctx, dst, "stable", 0)
	require.NoError(t, err)
	require.Len(t, hist, 1, "recorded in the repository written to")
	require.Equal(t, d2, hist[0].Digest)
	require.Equal(t, d1, g.tag("production"), "the source's repository keeps its tags")

	// A semver range: v1.0.0 (d1) released by CI, Flux on it; the promotion releases
	// d2 as v1.1.0.
	app, err := g.registry.Repository(g.reg.URL(g.repo()))
	require.NoError(t, err)
	h1, err := v1.NewHash(d1)
	require.NoError(t, err)
	_, err = g.registry.Release(ctx, app, h1, "v1.0.0", ">=1.0.0", "", oci.Record{By: "ci"})
	require.NoError(t, err)
	g.env("ranged", "", false, func(s *sourcev1.OCIRepositorySpec) {
		s.Reference = &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0"}
	})
	g.applied("ranged", "v1.0.0@"+d1)
	r = g.promote("--from", g.ref("staging"), "--to", g.ref("ranged"), "--bump", "minor", "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d = parseOCIDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.Equal(t, oci.StrategySemver, d.Strategy)
	require.Equal(t, "v1.1.0", d.Artifact.Tag)
	require.Equal(t, d2, d.Artifact.Digest)
	require.True(t, d.Reconcile.Ready, r.String())
	require.Equal(t, "v1.1.0@"+d2, d.Reconcile.AppliedRevision)
	require.Equal(t, d2, g.tag("v1.1.0"))
	require.Equal(t, d1, g.tag("v1.0.0"), "a version tag is never moved")
}

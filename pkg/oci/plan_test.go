package oci

import (
	"context"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
)

// ociEnv is an environment as flux.LoadAnyFrom returns it for an OCIRepository.
func ociEnv(name, url string, ref *sourcev1.OCIRepositoryRef, applied, origin string) *flux.Environment {
	return &flux.Environment{Name: name,
		Kustomization: &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "app"},
			Status: kustomizev1.KustomizationStatus{LastAppliedRevision: applied, LastAppliedOriginRevision: origin}},
		OCISource: &sourcev1.OCIRepository{Spec: sourcev1.OCIRepositorySpec{URL: url, Reference: ref, Insecure: true}}}
}

func TestPlanChoosesTheStrategyFromTheTarget(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, ociregistry.Options{})
	c := &Client{Keychain: authn.NewMultiKeychain()}
	d1 := push(t, reg, "app:sha-1", "1", nil)
	d2 := push(t, reg, "app:sha-2", "2", nil)
	app := repo(t, c, reg, "app")
	_, err := c.Retag(ctx, app, d2, "latest", Record{})
	require.NoError(t, err)
	_, err = c.Retag(ctx, app, d1, "production", Record{})
	require.NoError(t, err)
	staging := ociEnv("staging", reg.URL("app"), &sourcev1.OCIRepositoryRef{Tag: "latest"}, "latest@"+d2.String(), "main@sha1:"+d2.Hex[:40])

	// Same repository, a tag: retag.
	prod := ociEnv("production", reg.URL("app"), &sourcev1.OCIRepositoryRef{Tag: "production"}, "", "")
	p, err := c.PlanPromotion(ctx, staging, prod)
	require.NoError(t, err)
	require.Equal(t, StrategyRetag, p.Strategy)
	require.Equal(t, d2, p.Digest)
	require.Equal(t, d1, p.Current)
	require.False(t, p.UpToDate())

	// Both artifacts unpacked as the target would, rendered like kustomize-controller.
	src, dst, err := c.Fetch(ctx, p, t.TempDir())
	require.NoError(t, err)
	ks := &kustomizev1.Kustomization{Spec: kustomizev1.KustomizationSpec{Path: "./"}}
	before, err := render.Render(ctx, render.Input{Dir: dst, Kustomization: ks})
	require.NoError(t, err)
	after, err := render.Render(ctx, render.Input{Dir: src, Kustomization: ks})
	require.NoError(t, err)
	diff := render.Diff(before, after, "production", "staging")
	require.Contains(t, diff, "-  version: \"1\"")
	require.Contains(t, diff, "+  version: \"2\"")

	res, err := c.Apply(ctx, p, "", Record{By: "alice"})
	require.NoError(t, err)
	require.Equal(t, "main@sha1:"+d2.Hex[:40], res.Record.OriginRevision)
	p, err = c.PlanPromotion(ctx, staging, prod)
	require.NoError(t, err)
	require.True(t, p.UpToDate(), "same digest: nothing to promote")

	// Another repository: copy by digest, then tag.
	mirror := ociEnv("production", reg.URL("prod/app"), &sourcev1.OCIRepositoryRef{Tag: "stable"}, "", "")
	p, err = c.PlanPromotion(ctx, staging, mirror)
	require.NoError(t, err)
	require.Equal(t, StrategyCopy, p.Strategy)
	require.Zero(t, p.Current)
	_, err = c.Apply(ctx, p, "", Record{})
	require.NoError(t, err)
	got, err := c.Resolve(ctx, repo(t, c, reg, "prod/app"), "stable")
	require.NoError(t, err)
	require.Equal(t, d2, got)

	// A semver range: a new version tag the range selects.
	semverProd := ociEnv("production", reg.URL("app"), &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0"}, "", "")
	p, err = c.PlanPromotion(ctx, staging, semverProd)
	require.NoError(t, err)
	require.Equal(t, StrategySemver, p.Strategy)
	_, err = c.Apply(ctx, p, "", Record{})
	require.ErrorContains(t, err, "name the version to release with --tag")
	_, err = c.Apply(ctx, p, "v1.0.0", Record{})
	require.NoError(t, err)
	p, err = c.PlanPromotion(ctx, staging, semverProd)
	require.NoError(t, err)
	require.True(t, p.UpToDate())

	// A semver range in another repository: copied by digest, then released there.
	semverMirror := ociEnv("production", reg.URL("releases/app"), &sourcev1.OCIRepositoryRef{SemVer: "1.x"}, "", "")
	p, err = c.PlanPromotion(ctx, staging, semverMirror)
	require.NoError(t, err)
	require.Zero(t, p.Current)
	_, err = c.Apply(ctx, p, "1.0.0", Record{})
	require.NoError(t, err)
	p, err = c.PlanPromotion(ctx, staging, semverMirror)
	require.NoError(t, err)
	require.True(t, p.UpToDate())

	// A digest pin is a Git edit.
	pinned := ociEnv("production", reg.URL("app"), &sourcev1.OCIRepositoryRef{Digest: d1.String()}, "", "")
	p, err = c.PlanPromotion(ctx, staging, pinned)
	require.NoError(t, err)
	require.Equal(t, StrategyPin, p.Strategy)
	require.Equal(t, d1, p.Current)
	_, err = c.Apply(ctx, p, "", Record{})
	require.ErrorContains(t, err, "the pin is edited in Git")

	// A mix of Git and OCI is refused in one line; so is a source that applied nothing.
	git := &flux.Environment{Name: "production", Source: &sourcev1.GitRepository{}}
	_, err = c.PlanPromotion(ctx, staging, git)
	require.EqualError(t, err, "cannot promote from staging (reads from an OCIRepository) to production (reads from a GitRepository): both environments must read the same kind of source")
	_, err = c.PlanPromotion(ctx, ociEnv("staging", reg.URL("app"), nil, "", ""), prod)
	require.ErrorContains(t, err, "staging has applied nothing yet")
}

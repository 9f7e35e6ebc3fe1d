package flux

import (
	"context"
	"strings"
	"testing"

	meta "github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var hex64 = strings.Repeat("ab", 32)

func ociRepository(ref *sourcev1.OCIRepositoryRef) *sourcev1.OCIRepository {
	return &sourcev1.OCIRepository{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "flux-system"},
		Spec: sourcev1.OCIRepositorySpec{URL: "oci://registry.example/app", Reference: ref, Insecure: true,
			SecretRef:     &meta.LocalObjectReference{Name: "regcred"},
			LayerSelector: &sourcev1.OCILayerSelector{MediaType: "application/vnd.cncf.flux.content.v1.tar+gzip", Operation: "extract"}},
		Status: sourcev1.OCIRepositoryStatus{Artifact: &meta.Artifact{Revision: "production@sha256:" + hex64,
			Metadata: map[string]string{"org.opencontainers.image.revision": "main@sha1:" + strings.Repeat("1", 40), "org.opencontainers.image.source": "https://git.example/app.git"}}}}
}

func TestLoadAnyReadsAnOCIRepository(t *testing.T) {
	ctx := context.Background()
	k := ks("apps", "True", "production@sha256:"+hex64)
	k.Spec.SourceRef.Kind, k.Spec.SourceRef.Name = "OCIRepository", "app"
	k.Status.LastAppliedOriginRevision = "main@sha1:" + strings.Repeat("1", 40)
	c := cluster(k, ociRepository(&sourcev1.OCIRepositoryRef{Tag: "production"}))

	// LoadFrom (the Git path) still refuses it, with the same line as before.
	_, err := LoadFrom(ctx, c, spec("flux-system", "apps"))
	require.EqualError(t, err, `Kustomization flux-system/apps in context "staging" reads from OCIRepository flux-system/app: only GitRepository sources are supported yet`)

	env, err := LoadAnyFrom(ctx, c, spec("flux-system", "apps"))
	require.NoError(t, err)
	require.Nil(t, env.Source)
	require.Equal(t, "oci://registry.example/app", env.OCISource.Spec.URL)
	require.True(t, env.OCISource.Spec.Insecure)
	require.Equal(t, "regcred", env.OCISource.Spec.SecretRef.Name)
	require.Equal(t, OCIRef{Kind: OCIRefTag, Tag: "production"}, OCIRefOf(env.OCISource))

	art, ok, err := OCIArtifactOf(env.OCISource)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, OCIArtifact{Revision: "production@sha256:" + hex64, Tag: "production", Digest: "sha256:" + hex64,
		OriginRevision: "main@sha1:" + strings.Repeat("1", 40), Source: "https://git.example/app.git"}, art)
	applied, ok, err := OCIAppliedOf(env.Kustomization)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "sha256:"+hex64, applied.Digest)
	require.Equal(t, "main@sha1:"+strings.Repeat("1", 40), applied.OriginRevision)

	got, err := OCISourceOf(ctx, c, env.Kustomization)
	require.NoError(t, err)
	require.Equal(t, "app", got.Name)

	// A Git environment loads through LoadAnyFrom unchanged; a missing OCIRepository is named.
	env, err = LoadAnyFrom(ctx, cluster(ks("apps", "True", ""), gitRepository()), spec("flux-system", "apps"))
	require.NoError(t, err)
	require.NotNil(t, env.Source)
	require.Nil(t, env.OCISource)
	_, err = LoadAnyFrom(ctx, cluster(k), spec("flux-system", "apps"))
	require.EqualError(t, err, `OCIRepository flux-system/app (the source of Kustomization flux-system/apps) not found in context "staging"`)
	bucket := ks("apps", "True", "")
	bucket.Spec.SourceRef.Kind = "Bucket"
	_, err = LoadAnyFrom(ctx, cluster(bucket), spec("flux-system", "apps"))
	require.ErrorContains(t, err, "reads from Bucket flux-system/flux-system: only GitRepository sources are supported yet")
}

func TestOCIRefPrecedence(t *testing.T) {
	r := ociRepository(&sourcev1.OCIRepositoryRef{Tag: "stable", SemVer: ">=1.0.0", SemverFilter: ".*-rc", Digest: "sha256:" + hex64})
	require.Equal(t, OCIRef{Kind: OCIRefDigest, Digest: "sha256:" + hex64}, OCIRefOf(r))
	r.Spec.Reference.Digest = ""
	require.Equal(t, "semver >=1.0.0 (filter .*-rc)", OCIRefOf(r).String())
	r.Spec.Reference.SemVer = ""
	require.Equal(t, "tag stable", OCIRefOf(r).String())
	r.Spec.Reference = nil
	require.Equal(t, OCIRef{Kind: OCIRefTag, Tag: "latest"}, OCIRefOf(r))

	a, err := ParseOCIRevision("sha256:" + hex64)
	require.NoError(t, err)
	require.Equal(t, OCIArtifact{Revision: "sha256:" + hex64, Digest: "sha256:" + hex64}, a)
	_, err = ParseOCIRevision("main@sha1:" + strings.Repeat("1", 40))
	require.ErrorContains(t, err, "expected <tag>@sha256:<digest> or sha256:<digest>")
	r.Status.Artifact = nil
	_, ok, err := OCIArtifactOf(r)
	require.NoError(t, err)
	require.False(t, ok)
}

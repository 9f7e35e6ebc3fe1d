package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// ociApp is a Flux artifact's content: one ConfigMap saying which version it is.
func ociApp(version string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n  version: %q\n", version)
}

// pushOCIApp pushes version to repository repo as "flux push artifact" does, with
// origin revision main@sha1:<version repeated>, and returns its digest.
func pushOCIApp(t *testing.T, reg *ociregistry.Registry, repo, version string) v1.Hash {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(ociApp(version)), 0o644))
	out, err := ociregistry.Push(context.Background(), ociregistry.Artifact{Ref: reg.Repository(repo + ":sha-" + version),
		Dir: dir, Source: "http://git.example/app.git", Revision: originRevision(version)})
	require.NoError(t, err)
	d, err := oci.ParseDigest(out)
	require.NoError(t, err)
	return d
}

func originRevision(version string) string {
	return "main@sha1:" + strings.Repeat(version, 40/len(version))
}

// testOCITagMoveFollowedByFlux: an OCIRepository in a real plane follows the tag
// "production" of a real loopback registry over plain HTTP (spec.insecure), a
// Kustomization applies it; pkg/oci moves the tag (a registry-side retag, recorded
// as a referrer), the real source-controller serves the promoted digest, the
// Kustomization applies it with the origin revision, and a rollback goes back.
func testOCITagMoveFollowedByFlux(t *testing.T, g *gitless) {
	ctx := context.Background()
	c, reg, ns := g.c, g.reg, g.ns("flux")
	d1, d2 := pushOCIApp(t, reg, g.repo(), "1"), pushOCIApp(t, reg, g.repo(), "2")
	require.NotEqual(t, d1, d2)
	registry := &oci.Client{Keychain: authn.NewMultiKeychain(), Insecure: true, Timeout: 10 * time.Second}
	app, err := registry.Repository(reg.URL(g.repo()))
	require.NoError(t, err)
	_, err = registry.Retag(ctx, app, d1, "production", oci.Record{From: "ci", By: "e2e"})
	require.NoError(t, err)

	createOCIEnvironment(t, c, ns, reg.URL(g.repo()))
	waitOCIApplied(t, c, ns, "production@"+d1.String(), originRevision("1"), "1")

	// pkg/flux reads it as an environment.
	env, err := flux.LoadAnyFrom(ctx, &flux.Cluster{Context: "gitless", Client: mustWatch(t, g.f.Plane(prod))}, flux.RefSpec{Ref: flux.Ref{Context: "gitless", Namespace: ns, Name: "app"}})
	require.NoError(t, err)
	require.Equal(t, flux.OCIRef{Kind: flux.OCIRefTag, Tag: "production"}, flux.OCIRefOf(env.OCISource))
	art, ok, err := flux.OCIArtifactOf(env.OCISource)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, d1.String(), art.Digest)
	require.Equal(t, originRevision("1"), art.OriginRevision)

	// The promotion: staging proved d2; move production to it.
	res, err := registry.Retag(ctx, app, d2, "production", oci.Record{From: "staging", By: "e2e", Gates: []string{"source-healthy"}})
	require.NoError(t, err)
	require.Equal(t, d1, res.Previous)
	requestOCIReconcile(t, c, ns)
	waitOCIApplied(t, c, ns, "production@"+d2.String(), originRevision("2"), "2")

	_, hist, err := registry.History(ctx, app, "production", 0)
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.Equal(t, []string{d2.String(), d1.String()}, []string{hist[0].Digest, hist[1].Digest})

	// Rollback: the tag goes back to d1 and Flux applies it again.
	rb, err := registry.Rollback(ctx, app, "production", oci.RollbackOptions{Record: oci.Record{By: "e2e"}})
	require.NoError(t, err)
	require.Equal(t, d1, rb.Digest)
	requestOCIReconcile(t, c, ns)
	waitOCIApplied(t, c, ns, "production@"+d1.String(), originRevision("1"), "1")

	// Another repository: copy d2 by digest and tag it; the OCIRepository now reads it.
	prodRepo, err := registry.Repository(reg.URL(g.name + "/prod/app"))
	require.NoError(t, err)
	_, err = registry.Copy(ctx, app, d2, prodRepo, "stable", oci.Record{By: "e2e"})
	require.NoError(t, err)
	setOCIRef(t, c, ns, reg.URL(g.name+"/prod/app"), &sourcev1.OCIRepositoryRef{Tag: "stable"})
	waitOCIApplied(t, c, ns, "stable@"+d2.String(), originRevision("2"), "2")

	// A semver range: releasing v1.1.0 for d1 (after v1.0.0 for d2) moves Flux to d1.
	_, err = registry.Release(ctx, app, d2, "v1.0.0", ">=1.0.0", "", oci.Record{By: "e2e"})
	require.NoError(t, err)
	setOCIRef(t, c, ns, reg.URL(g.repo()), &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0"})
	waitOCIApplied(t, c, ns, "v1.0.0@"+d2.String(), originRevision("2"), "2")
	_, err = registry.Release(ctx, app, d1, "v1.1.0", ">=1.0.0", "", oci.Record{By: "e2e"})
	require.NoError(t, err)
	requestOCIReconcile(t, c, ns)
	waitOCIApplied(t, c, ns, "v1.1.0@"+d1.String(), originRevision("1"), "1")
}

// setOCIRef points ns's OCIRepository at url and ref.
func setOCIRef(t *testing.T, c client.Client, ns, url string, ref *sourcev1.OCIRepositoryRef) {
	t.Helper()
	repo := &sourcev1.OCIRepository{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, repo))
	patch := client.MergeFrom(repo.DeepCopy())
	repo.Spec.URL, repo.Spec.Reference = url, ref
	require.NoError(t, c.Patch(context.Background(), repo, patch))
}

// testOCISecretRefAgainstAnAuthenticatingRegistry: distribution with htpasswd; the
// OCIRepository pulls with its dockerconfigjson secretRef, pkg/oci promotes with the
// credentials read from that same Secret, and source-controller follows.
func testOCISecretRefAgainstAnAuthenticatingRegistry(t *testing.T, g *gitless) {
	ctx := context.Background()
	c, reg, ns, password := g.c, g.authReg, g.ns("flux"), authPassword
	ci := &authn.Basic{Username: "ci", Password: password}
	var digests []v1.Hash
	for _, version := range []string{"1", "2"} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(ociApp(version)), 0o644))
		out, err := ociregistry.Push(ctx, ociregistry.Artifact{Ref: reg.Repository(g.repo() + ":sha-" + version), Dir: dir,
			Revision: originRevision(version), Auth: ci})
		require.NoError(t, err)
		d, err := oci.ParseDigest(out)
		require.NoError(t, err)
		digests = append(digests, d)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + password))
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + reg.Host + `":{"auth":"` + auth + `"}}}`)}}
	require.NoError(t, c.Create(ctx, secret))

	// Without credentials the registry refuses, in one line.
	anon := &oci.Client{Keychain: authn.NewMultiKeychain(), Insecure: true}
	app, err := anon.Repository(reg.URL(g.repo()))
	require.NoError(t, err)
	_, err = anon.Retag(ctx, app, digests[0], "production", oci.Record{})
	require.ErrorIs(t, err, oci.ErrDenied)

	// The Secret the OCIRepository names, read when asked.
	fromSecret := &corev1.Secret{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "regcred"}, fromSecret))
	sa, err := oci.AuthFromDockerConfigJSON(fromSecret.Data[corev1.DockerConfigJsonKey], reg.Host)
	require.NoError(t, err)
	registry := &oci.Client{Keychain: authn.NewMultiKeychain(), Auth: sa, Insecure: true}
	_, err = registry.Retag(ctx, app, digests[0], "production", oci.Record{By: "e2e"})
	require.NoError(t, err)

	createOCIEnvironment(t, c, ns, reg.URL(g.repo()))
	repo := &sourcev1.OCIRepository{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, repo))
	patch := client.MergeFrom(repo.DeepCopy())
	repo.Spec.SecretRef = &meta.LocalObjectReference{Name: "regcred"}
	require.NoError(t, c.Patch(ctx, repo, patch))
	waitOCIApplied(t, c, ns, "production@"+digests[0].String(), originRevision("1"), "1")

	_, err = registry.Retag(ctx, app, digests[1], "production", oci.Record{By: "e2e"})
	require.NoError(t, err)
	requestOCIReconcile(t, c, ns)
	waitOCIApplied(t, c, ns, "production@"+digests[1].String(), originRevision("2"), "2")
}

func mustWatch(t *testing.T, p *plane.Plane) client.WithWatch {
	t.Helper()
	c, err := client.NewWithWatch(p.RESTConfig(), client.Options{Scheme: flux.Scheme})
	require.NoError(t, err)
	return c
}

// createOCIEnvironment applies, in namespace ns (created unless it exists), an
// OCIRepository following tag production of url over plain HTTP, and a
// Kustomization applying it into ns.
func createOCIEnvironment(t *testing.T, c client.Client, ns, url string) {
	t.Helper()
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		require.True(t, apierrors.IsAlreadyExists(err), err)
	}
	repo := &sourcev1.OCIRepository{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: sourcev1.OCIRepositorySpec{URL: url, Insecure: true, Interval: metav1.Duration{Duration: 10 * time.Minute},
			Reference: &sourcev1.OCIRepositoryRef{Tag: "production"}}}
	require.NoError(t, c.Create(ctx, repo))
	ks := &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: kustomizev1.KustomizationSpec{Interval: metav1.Duration{Duration: 10 * time.Minute}, Path: "./", Prune: true,
			TargetNamespace: ns, SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.OCIRepositoryKind, Name: "app"}}}
	require.NoError(t, c.Create(ctx, ks))
}

// requestOCIReconcile asks source-controller to look at ns's tag again now, as
// "flux reconcile source oci" does.
func requestOCIReconcile(t *testing.T, c client.Client, ns string) {
	t.Helper()
	repo := &sourcev1.OCIRepository{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, repo))
	patch := client.MergeFrom(repo.DeepCopy())
	if repo.Annotations == nil {
		repo.Annotations = map[string]string{}
	}
	repo.Annotations[meta.ReconcileRequestAnnotation] = time.Now().Format(time.RFC3339Nano)
	require.NoError(t, c.Patch(context.Background(), repo, patch))
}

// waitOCIApplied waits until ns's OCIRepository serves revision, its Kustomization
// applied it (Ready, with originRev as lastAppliedOriginRevision) and the ConfigMap
// says version.
func waitOCIApplied(t *testing.T, c client.Client, ns, revision, originRev, version string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		repo := &sourcev1.OCIRepository{}
		ks := &kustomizev1.Kustomization{}
		cm := &corev1.ConfigMap{}
		key := client.ObjectKey{Namespace: ns, Name: "app"}
		if err := c.Get(ctx, key, repo); err != nil {
			return false, err
		}
		if err := c.Get(ctx, key, ks); err != nil {
			return false, err
		}
		artifact := ""
		if repo.Status.Artifact != nil {
			artifact = repo.Status.Artifact.Revision
		}
		ready := apimeta.IsStatusConditionTrue(ks.Status.Conditions, meta.ReadyCondition)
		_ = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, cm)
		last = fmt.Sprintf("artifact %q, ks ready=%v applied %q origin %q, configmap version %q; ks conditions %v",
			artifact, ready, ks.Status.LastAppliedRevision, ks.Status.LastAppliedOriginRevision, cm.Data["version"], ks.Status.Conditions)
		return artifact == revision && ready && ks.Status.LastAppliedRevision == revision &&
			ks.Status.LastAppliedOriginRevision == originRev && cm.Data["version"] == version, nil
	})
	require.NoError(t, err, "waiting for %s to be applied: %s", revision, last)
}

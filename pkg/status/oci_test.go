package status

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
)

// Status across a Git and an OCI environment: the OCI one shows its OCIRepository,
// what it follows, the applied revision and its origin, the images the applied
// digest renders, and the last promotion record of its tag.
func TestRunShowsAGitAndAnOCIEnvironment(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t)
	reg, err := ociregistry.Start(t.TempDir(), ociregistry.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	dir := t.TempDir()
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  selector:\n    matchLabels: {app: app}\n  template:\n    metadata:\n      labels: {app: app}\n    spec:\n      containers:\n        - name: app\n          image: example.com/app:2.0.0\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(deploy), 0o644))
	out, err := ociregistry.Push(ctx, ociregistry.Artifact{Ref: reg.Repository("app:build"), Dir: dir, Revision: "main@sha1:" + strings.Repeat("2", 40)})
	require.NoError(t, err)
	digest, err := oci.ParseDigest(out)
	require.NoError(t, err)
	c := &oci.Client{Keychain: authn.NewMultiKeychain()}
	repo, err := c.Repository(reg.URL("app"))
	require.NoError(t, err)
	_, err = c.Retag(ctx, repo, digest, "production", oci.Record{From: "staging", By: "alice"})
	require.NoError(t, err)

	rev := "production@" + digest.String()
	ready := metav1.Condition{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: meta.ReconciliationSucceededReason, Message: "Applied revision: " + rev, LastTransitionTime: metav1.Now()}
	require.NoError(t, p.prod.Client.Create(ctx, &sourcev1.OCIRepository{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: fakeflux.Namespace},
		Spec: sourcev1.OCIRepositorySpec{URL: reg.URL("app"), Reference: &sourcev1.OCIRepositoryRef{Tag: "production"}, Interval: metav1.Duration{Duration: time.Minute}}}))
	require.NoError(t, p.prod.Client.Create(ctx, &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: fakeflux.Namespace},
		Spec: kustomizev1.KustomizationSpec{Path: "./", Interval: metav1.Duration{Duration: time.Minute},
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.OCIRepositoryKind, Name: "app"}},
		Status: kustomizev1.KustomizationStatus{LastAppliedRevision: rev, LastAppliedOriginRevision: "main@sha1:" + strings.Repeat("2", 40), Conditions: []metav1.Condition{ready}}}))

	gitless := flux.RefSpec{Raw: "production/flux-system/app", Ref: flux.Ref{Context: "production", Namespace: fakeflux.Namespace, Name: "app"}}
	rep, err := Run(ctx, p.clients, Options{Envs: []flux.RefSpec{envOf("staging"), gitless}})
	require.NoError(t, err)
	g, o := rep.Environments[0], rep.Environments[1]
	require.Equal(t, "flux-system/flux-system", g.GitRepository)
	require.Empty(t, o.Error)
	require.Equal(t, "flux-system/app", o.OCIRepository)
	require.Equal(t, "tag production", o.Ref)
	require.Equal(t, "production", o.Tag)
	require.Equal(t, rev, o.AppliedRevision)
	require.Equal(t, "main@sha1:"+strings.Repeat("2", 40), o.OriginRevision)
	require.True(t, o.Ready)
	require.Len(t, o.Images, 1)
	require.Equal(t, "example.com/app", o.Images[0].Repository)
	require.Equal(t, "2.0.0", o.Images[0].Version)
	require.NotNil(t, o.LastPromotion)
	require.Equal(t, digest.String(), o.LastPromotion.Digest)
	require.Equal(t, "alice", o.LastPromotion.By)
	require.NotEmpty(t, o.Behind, "compared with staging's images")
}

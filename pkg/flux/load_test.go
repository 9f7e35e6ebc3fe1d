package flux

import (
	"context"
	"testing"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func cluster(objs ...client.Object) *Cluster {
	return &Cluster{Context: "staging", Client: fake.NewClientBuilder().WithScheme(Scheme).WithObjects(objs...).Build()}
}

func gitRepository() *sourcev1.GitRepository {
	return &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "flux-system", Namespace: "flux-system"},
		Spec: sourcev1.GitRepositorySpec{URL: "https://git.example/fleet.git", Reference: &sourcev1.GitRepositoryRef{Branch: "main"}}}
}

func spec(ns, name string) RefSpec {
	return RefSpec{Raw: "staging", ByContext: true, Ref: Ref{Context: "staging", Namespace: ns, Name: name}}
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	env, err := LoadFrom(ctx, cluster(ks("apps", "True", ""), gitRepository()), spec("flux-system", "apps"))
	require.NoError(t, err)
	require.Equal(t, "staging", env.Name)
	require.Equal(t, "https://git.example/fleet.git", env.Source.Spec.URL)

	// A context alone picks its only Kustomization, and lists them when there are several.
	env, err = LoadFrom(ctx, cluster(ks("apps", "True", ""), gitRepository()), spec("flux-system", ""))
	require.NoError(t, err)
	require.Equal(t, "apps", env.Ref.Name)
	_, err = LoadFrom(ctx, cluster(ks("apps", "True", ""), ks("infrastructure", "True", ""), gitRepository()), spec("flux-system", ""))
	require.ErrorContains(t, err, `has 2 Kustomizations in namespace "flux-system" (apps, infrastructure)`)
	_, err = LoadFrom(ctx, cluster(), spec("flux-system", ""))
	require.ErrorContains(t, err, "no Kustomizations in namespace")

	_, err = LoadFrom(ctx, cluster(ks("infrastructure", "True", ""), gitRepository()), spec("flux-system", "apps"))
	require.ErrorContains(t, err, `Kustomization flux-system/apps not found in context "staging" (Kustomizations in flux-system: infrastructure)`)

	_, err = LoadFrom(ctx, cluster(ks("apps", "True", "")), spec("flux-system", "apps"))
	require.ErrorContains(t, err, "GitRepository flux-system/flux-system (the source of Kustomization flux-system/apps) not found")

	oci := ks("apps", "True", "")
	oci.Spec.SourceRef.Kind = "OCIRepository"
	_, err = LoadFrom(ctx, cluster(oci), spec("flux-system", "apps"))
	require.ErrorContains(t, err, "reads from OCIRepository flux-system/flux-system: only GitRepository sources are supported yet")
}

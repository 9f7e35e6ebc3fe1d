package flux

import (
	"fmt"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The Flux kinds are mapped without discovery, in the version kubectl-promote uses;
// other kinds and other versions go to discovery.
func TestKnownFirstMapsFluxKindsWithoutDiscovery(t *testing.T) {
	asked := 0
	m := newKnownFirst(askedMapper{&asked})
	for _, gvk := range []schema.GroupVersionKind{
		kustomizev1.GroupVersion.WithKind("Kustomization"),
		sourcev1.GroupVersion.WithKind("GitRepository"),
		sourcev1.GroupVersion.WithKind("OCIRepository"),
	} {
		mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
		require.NoError(t, err)
		require.Equal(t, apimeta.RESTScopeNameNamespace, mapping.Scope.Name())
		require.Equal(t, gvk, mapping.GroupVersionKind)
	}
	mapping, err := m.RESTMapping(schema.GroupKind{Group: kustomizev1.GroupVersion.Group, Kind: "Kustomization"})
	require.NoError(t, err)
	require.Equal(t, "kustomizations", mapping.Resource.Resource)
	require.Zero(t, asked, "no discovery for the Flux kinds")

	_, err = m.RESTMapping(appsv1.SchemeGroupVersion.WithKind("Deployment").GroupKind(), "v1")
	require.ErrorContains(t, err, "discovery")
	_, err = m.RESTMapping(schema.GroupKind{Group: sourcev1.GroupVersion.Group, Kind: "OCIRepository"}, "v1beta2")
	require.ErrorContains(t, err, "discovery")
	require.Equal(t, 2, asked)
}

type askedMapper struct{ n *int }

func (a askedMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*apimeta.RESTMapping, error) {
	*a.n++
	return nil, fmt.Errorf("discovery asked for %s", gk)
}

func (a askedMapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*apimeta.RESTMapping, error) {
	*a.n++
	return nil, fmt.Errorf("discovery asked for %s", gk)
}
func (askedMapper) KindFor(schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	return schema.GroupVersionKind{}, nil
}
func (askedMapper) KindsFor(schema.GroupVersionResource) ([]schema.GroupVersionKind, error) {
	return nil, nil
}
func (askedMapper) ResourceFor(schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	return schema.GroupVersionResource{}, nil
}
func (askedMapper) ResourcesFor(schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	return nil, nil
}
func (askedMapper) ResourceSingularizer(string) (string, error) { return "", nil }

// What the API server answers, as client-go makes it an error: its router's plain
// "404 page not found" for a group or version it does not serve, a Status naming the
// object for one that does not exist.
func TestNotServed(t *testing.T) {
	gr := schema.GroupResource{Group: kustomizev1.GroupVersion.Group, Resource: "kustomizations"}
	notServed := apierrors.NewGenericServerResponse(404, "get", gr, "apps", "404 page not found", 0, true)
	require.True(t, NotServed(notServed))
	require.False(t, objectNotFound(notServed))
	require.Contains(t, APIError(notServed, "get", "kustomizations.kustomize.toolkit.fluxcd.io", "flux-system/apps", "edge").Error(), "Flux is not installed in context \"edge\"")

	missing := apierrors.NewNotFound(gr, "apps")
	require.False(t, NotServed(missing))
	require.True(t, objectNotFound(missing))
	require.False(t, NotServed(apierrors.NewForbidden(gr, "apps", fmt.Errorf("no"))))
	require.False(t, NotServed(fmt.Errorf("connection refused")))
}

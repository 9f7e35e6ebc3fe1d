package flux

import (
	"errors"
	"net/http"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// fluxKinds are the Flux kinds kubectl-promote reads and writes, each in the one
// version it uses, with their resource names: all namespaced.
var fluxKinds = map[schema.GroupVersionKind]string{
	kustomizev1.GroupVersion.WithKind(kustomizev1.KustomizationKind): "kustomizations",
	sourcev1.GroupVersion.WithKind(sourcev1.GitRepositoryKind):       "gitrepositories",
	sourcev1.GroupVersion.WithKind(sourcev1.OCIRepositoryKind):       "ocirepositories",
}

// newMapper maps the Flux kinds without asking the API server and every other kind
// (health-checked workloads, Secrets, the access reviews) by discovery, on first use.
// Discovery is two requests before a cluster's first answer (GET /api and /apis,
// the whole aggregated document): a fleet status of a hundred clusters reads a
// Kustomization and a GitRepository from each, so it spent two of its five requests
// per cluster learning what it already knows. A cluster without these kinds (Flux
// not installed, or too old) answers 404 for them, which NotServed recognises.
func newMapper(cfg *rest.Config, hc *http.Client) (apimeta.RESTMapper, error) {
	dynamic, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return nil, err
	}
	return newKnownFirst(dynamic), nil
}

// newKnownFirst maps fluxKinds itself and asks discovery for the rest.
func newKnownFirst(discovery apimeta.RESTMapper) *knownFirst {
	known := apimeta.NewDefaultRESTMapper(nil)
	for gvk, resource := range fluxKinds {
		known.AddSpecific(gvk, gvk.GroupVersion().WithResource(resource), gvk.GroupVersion().WithResource(resourceSingular(gvk)), apimeta.RESTScopeNamespace)
	}
	return &knownFirst{RESTMapper: discovery, known: known}
}

func resourceSingular(gvk schema.GroupVersionKind) string {
	switch gvk.Kind {
	case kustomizev1.KustomizationKind:
		return "kustomization"
	case sourcev1.GitRepositoryKind:
		return "gitrepository"
	}
	return "ocirepository"
}

// knownFirst answers the Flux kinds from known, in the versions known maps, and asks
// the discovery mapper for the rest.
type knownFirst struct {
	apimeta.RESTMapper
	known *apimeta.DefaultRESTMapper
}

// knownVersions returns the versions to map gk in from known, nil when gk in those
// versions is not a kind known maps: versions, or with none asked for, the one
// kubectl-promote uses.
func (m *knownFirst) knownVersions(gk schema.GroupKind, versions []string) []string {
	for gvk := range fluxKinds {
		if gvk.GroupKind() != gk {
			continue
		}
		if len(versions) == 0 {
			return []string{gvk.Version}
		}
		for _, v := range versions {
			if v == gvk.Version {
				return versions
			}
		}
	}
	return nil
}

func (m *knownFirst) RESTMapping(gk schema.GroupKind, versions ...string) (*apimeta.RESTMapping, error) {
	if vs := m.knownVersions(gk, versions); vs != nil {
		return m.known.RESTMapping(gk, vs...)
	}
	return m.RESTMapper.RESTMapping(gk, versions...)
}

func (m *knownFirst) RESTMappings(gk schema.GroupKind, versions ...string) ([]*apimeta.RESTMapping, error) {
	if vs := m.knownVersions(gk, versions); vs != nil {
		return m.known.RESTMappings(gk, vs...)
	}
	return m.RESTMapper.RESTMappings(gk, versions...)
}

// NotServed says err is the API server's answer to a request for a resource it does
// not serve at all (no such API group or version): a 404 whose body is the plain
// "404 page not found" of its router, not the Status an object that does not exist
// gets. With the Flux kinds mapped without discovery, that is how a cluster without
// Flux's CRDs (or with too old a Flux) answers.
func NotServed(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsNotFound(err) {
		return false
	}
	d := status.Status().Details
	if d == nil {
		return true
	}
	for _, c := range d.Causes {
		if c.Type == metav1.CauseTypeUnexpectedServerResponse {
			return true
		}
	}
	return d.Name == "" && d.Kind == ""
}

// objectNotFound says err is a 404 for an object of a resource the API server
// serves: the object does not exist.
func objectNotFound(err error) bool { return apierrors.IsNotFound(err) && !NotServed(err) }

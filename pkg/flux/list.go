package flux

import (
	"context"
	"sort"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
)

// KustomizationsResource is Flux's Kustomization resource, as the API server serves it.
var KustomizationsResource = kustomizev1.GroupVersion.WithResource("kustomizations")

// KustomizationRefs lists the Kustomizations of a context ("" for the current one)
// in a namespace, or in every namespace when namespace is "", sorted. It reads
// metadata only, with one request and no discovery, which is all that completing a
// name on <TAB> can afford.
func (c *Clients) KustomizationRefs(ctx context.Context, kubeContext, namespace string) ([]Ref, error) {
	cluster, err := c.Cluster(kubeContext)
	if err != nil {
		return nil, err
	}
	client, err := metadata.NewForConfig(cluster.Config)
	if err != nil {
		return nil, err
	}
	list, err := client.Resource(KustomizationsResource).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, APIError(err, "list", "kustomizations.kustomize.toolkit.fluxcd.io", namespace+"/*", cluster.Context)
	}
	refs := make([]Ref, 0, len(list.Items))
	for _, item := range list.Items {
		refs = append(refs, Ref{Context: cluster.Context, Namespace: item.Namespace, Name: item.Name})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	return refs, nil
}

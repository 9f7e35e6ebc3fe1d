package reconcile

import (
	"context"
	"fmt"
	"sync"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// reviewJournal answers every access review, allowing all but denied, and records
// what each asked.
type reviewJournal struct {
	mu     sync.Mutex
	asked  map[string]int
	denied string
}

func (j *reviewJournal) cluster() *flux.Cluster {
	c := fake.NewClientBuilder().WithScheme(flux.Scheme).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			r, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
			if !ok {
				return c.Create(ctx, obj, opts...)
			}
			ra := r.Spec.ResourceAttributes
			key := ra.Resource + "/" + ra.Name
			j.mu.Lock()
			defer j.mu.Unlock()
			j.asked[key]++
			r.Status.Allowed = key != j.denied
			return nil
		},
	}).Build()
	return &flux.Cluster{Context: "shared", Client: c}
}

// fleetEnvs are n environments of one cluster reading one GitRepository.
func fleetEnvs(cl *flux.Cluster, n int) []*flux.Environment {
	src := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "flux-system", Namespace: "flux-system"}}
	var envs []*flux.Environment
	for i := range n {
		name := fmt.Sprintf("apps-%02d", i)
		envs = append(envs, &flux.Environment{Ref: flux.Ref{Context: "shared", Namespace: "flux-system", Name: name}, Cluster: cl, Source: src,
			Kustomization: &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flux-system"}}})
	}
	return envs
}

// In a context of flux.WithSharedReads, the permission on a GitRepository twenty
// targets share is asked once, each Kustomization's once; a denial is still every
// target's answer.
func TestCanAnnounceAsksASharedSourceOnce(t *testing.T) {
	j := &reviewJournal{asked: map[string]int{}}
	envs := fleetEnvs(j.cluster(), 20)
	ctx := flux.WithSharedReads(context.Background())
	var wg sync.WaitGroup
	for _, env := range envs {
		wg.Go(func() { assert.NoError(t, CanAnnounce(ctx, env)) })
	}
	wg.Wait()
	require.Len(t, j.asked, 21)
	assert.Equal(t, 1, j.asked["gitrepositories/flux-system"])
	assert.Equal(t, 1, j.asked["kustomizations/apps-07"])

	j = &reviewJournal{asked: map[string]int{}, denied: "gitrepositories/flux-system"}
	envs = fleetEnvs(j.cluster(), 3)
	ctx = flux.WithSharedReads(context.Background())
	for _, env := range envs {
		require.ErrorContains(t, CanAnnounce(ctx, env), "cannot patch gitrepositories.source.toolkit.fluxcd.io flux-system/flux-system")
	}
	assert.Equal(t, 1, j.asked["gitrepositories/flux-system"])

	for _, env := range envs {
		require.Error(t, CanAnnounce(context.Background(), env))
	}
	assert.Equal(t, 4, j.asked["gitrepositories/flux-system"], "asked by every target outside shared reads")
}

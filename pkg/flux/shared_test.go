package flux

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// countingCluster is a cluster with n apps-NN Kustomizations reading one
// GitRepository, counting the GitRepository's reads.
func countingCluster(n int) (*Cluster, *atomic.Int32) {
	var reads atomic.Int32
	objs := []client.Object{gitRepository()}
	for i := range n {
		objs = append(objs, ks(fmt.Sprintf("apps-%02d", i), "True", ""))
	}
	c := fake.NewClientBuilder().WithScheme(Scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*sourcev1.GitRepository); ok {
				reads.Add(1)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	return &Cluster{Context: "shared", Client: c}, &reads
}

// loadAll loads apps-00 ... apps-(n-1) in parallel, as a fleet promotion does.
func loadAll(t *testing.T, ctx context.Context, cl *Cluster, n int) []*Environment {
	envs := make([]*Environment, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			env, err := LoadAnyFrom(ctx, cl, spec("flux-system", fmt.Sprintf("apps-%02d", i)))
			assert.NoError(t, err)
			envs[i] = env
		})
	}
	wg.Wait()
	return envs
}

// Twenty targets reading one GitRepository read it once in a context of
// WithSharedReads (and SourceOf, their gates, not again), each getting a copy of its
// own; in any other context every load reads it.
func TestSharedReadsReadASourceOnce(t *testing.T) {
	cl, reads := countingCluster(20)
	ctx := WithSharedReads(context.Background())
	envs := loadAll(t, ctx, cl, 20)
	require.EqualValues(t, 1, reads.Load(), "one read for twenty targets")
	for _, env := range envs {
		require.NotNil(t, env)
		assert.Equal(t, "https://git.example/fleet.git", env.Source.Spec.URL)
	}
	envs[0].Source.Spec.URL = "changed"
	assert.Equal(t, "https://git.example/fleet.git", envs[1].Source.Spec.URL, "each environment has its own copy")
	src, err := SourceOf(ctx, cl, envs[3].Kustomization)
	require.NoError(t, err)
	assert.Equal(t, "https://git.example/fleet.git", src.Spec.URL)
	assert.EqualValues(t, 1, reads.Load(), "the gates' SourceOf reads it no more")

	cl, reads = countingCluster(20)
	loadAll(t, context.Background(), cl, 20)
	assert.EqualValues(t, 20, reads.Load(), "without shared reads, one read per target")
}

// Shared shares an error as it shares a value, and keys apart what differs.
func TestSharedKeys(t *testing.T) {
	ctx := WithSharedReads(context.Background())
	calls := 0
	read := func() (int, error) { calls++; return calls, fmt.Errorf("failed %d", calls) }
	v, err := Shared(ctx, "a", read)
	assert.Equal(t, 1, v)
	assert.EqualError(t, err, "failed 1")
	v, err = Shared(ctx, "a", read)
	assert.Equal(t, 1, v)
	assert.EqualError(t, err, "failed 1")
	v, _ = Shared(ctx, "b", read)
	assert.Equal(t, 2, v)
	v, _ = Shared(context.Background(), "a", read)
	assert.Equal(t, 3, v, "no sharing outside WithSharedReads")
}

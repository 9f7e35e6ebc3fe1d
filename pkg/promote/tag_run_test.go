package promote

import (
	"context"
	"testing"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// semverTarget makes production follow a semver range, its first release the seed.
func (f *fleet) semverTarget(rng string) {
	f.t.Helper()
	ctx := context.Background()
	f.git("-c", "user.name=t", "-c", "user.email=t@example.com", "tag", "-a", "-m", "first", "v1.0.0", f.seed)
	gr := &sourcev1.GitRepository{}
	require.NoError(f.t, f.prod.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: "flux-system"}, gr))
	gr.Spec.Reference = &sourcev1.GitRepositoryRef{SemVer: rng}
	require.NoError(f.t, f.prod.Client.Update(ctx, gr))
}

// A tag name another promotion pushes first (between the plan and the push) is a
// race: the promotion plans again and takes the next version; the other tag is not
// moved. With --tag the name is the user's, so a taken name is refused instead.
func TestPromoteTagRaceTakesTheNextVersion(t *testing.T) {
	f := newFleet(t)
	f.semverTarget(">=1.0.0 <2.0.0")
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Confirm = func(res *v1alpha1.Promotion) (bool, error) {
		require.Equal(t, "v1.0.1", res.Tag)
		f.git("tag", "v1.0.1", f.seed) // someone else's release
		return true, nil
	}
	res, err := Run(context.Background(), f.clients, o)
	require.NoError(t, err, p.String())
	require.Equal(t, StrategyTag, res.Strategy)
	require.Equal(t, "v1.0.2", res.Tag)
	require.Equal(t, 2, res.Commit.Attempts)
	require.Equal(t, f.head(), res.Commit.SHA)
	require.Equal(t, "v1.0.2@sha1:"+res.Commit.SHA, res.Commit.Revision)
	require.Equal(t, "v1.0.0@sha1:"+f.seed, res.Target.Revision)
	require.Equal(t, res.Commit.SHA, f.git("rev-parse", "v1.0.2^{commit}"))
	require.Equal(t, f.seed, f.git("rev-parse", "v1.0.1^{commit}"), "the other tag is not moved")

	// The user's own name (--tag), taken meanwhile: refused, nothing pushed.
	f = newFleet(t)
	f.semverTarget(">=1.0.0 <2.0.0")
	o = f.options(p)
	o.Tag = TagOptions{Tag: "v1.5.0"}
	o.Confirm = func(*v1alpha1.Promotion) (bool, error) { f.git("tag", "v1.5.0", f.seed); return true, nil }
	_, err = Run(context.Background(), f.clients, o)
	require.ErrorContains(t, err, "tag v1.5.0 already exists")
	require.Equal(t, f.seed, f.head(), "nothing was pushed")
	require.Equal(t, f.seed, f.git("rev-parse", "v1.5.0^{commit}"))
}

package promote

import (
	"context"
	"strings"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
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

// The whole tree as the environment (both read the same path): the source's applied
// commit itself is tagged and no branch moves, even when the branch has gone on.
func TestPromoteTagSamePathTagsTheAppliedCommit(t *testing.T) {
	f := newFleet(t)
	f.semverTarget(">=1.0.0 <2.0.0")
	ctx := context.Background()
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, f.prod.Client.Get(ctx, appsKey, ks))
	ks.Spec.Path = "./apps/staging"
	require.NoError(t, f.prod.Client.Update(ctx, ks))

	overlay := f.git("show", "main:apps/staging/kustomization.yaml")
	src, err := f.push(map[string]string{"apps/staging/kustomization.yaml": strings.Replace(overlay, `"1.1.0"`, `"1.2.0"`, 1)}, "staging: my-app 1.2.0")
	require.NoError(t, err)
	later, err := f.push(map[string]string{"README.md": "later\n"}, "not applied by staging yet")
	require.NoError(t, err)
	sks := &kustomizev1.Kustomization{}
	require.NoError(t, f.staging.Client.Get(ctx, appsKey, sks))
	sks.Status.LastAppliedRevision, sks.Status.LastAttemptedRevision = "main@sha1:"+src, "main@sha1:"+src
	require.NoError(t, f.staging.Client.Update(ctx, sks))

	p := &fakeflux.Progress{}
	res, err := Run(ctx, f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, StrategyTag, res.Strategy)
	require.Equal(t, "v1.0.1", res.Tag)
	require.Equal(t, src, res.Commit.SHA, "the applied commit is what is released")
	require.Equal(t, "v1.0.1@sha1:"+src, res.Commit.Revision)
	require.Equal(t, src, f.git("rev-parse", "v1.0.1^{commit}"))
	require.Equal(t, later, f.head(), "no branch moved")
	require.Equal(t, 1, res.CommitCount)
	require.Len(t, res.Changes, 1)
	require.Equal(t, "1.1.0", res.Changes[0].From)
	require.Equal(t, "1.2.0", res.Changes[0].To)
	require.Contains(t, f.git("cat-file", "-p", "v1.0.1"), "Promoted-Strategy: tag")

	// Again: the tag has it, nothing to promote.
	res, err = Run(ctx, f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, OutcomeNothingToDo, res.Outcome)
	require.Equal(t, "v1.0.0\nv1.0.1", f.git("tag", "--list"))
}

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
	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// layout sets the target up for a strategy: the seed (images), a branch of its own
// reading the source's path (revision), a semver range (tag), a pinned tag whose
// manifest is in the repository (pinned tag).
func (f *fleet) layout(t *testing.T, strategy string) {
	ctx := context.Background()
	switch strategy {
	case StrategyRevision:
		f.git("branch", "production", f.seed)
		_, err := f.push(map[string]string{"apps/staging/NOTES": "staging only\n"}, "a staging change")
		require.NoError(t, err)
		head := f.head()
		gr := &sourcev1.GitRepository{}
		require.NoError(t, f.prod.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: "flux-system"}, gr))
		gr.Spec.Reference = &sourcev1.GitRepositoryRef{Branch: "production"}
		require.NoError(t, f.prod.Client.Update(ctx, gr))
		ks := &kustomizev1.Kustomization{}
		require.NoError(t, f.prod.Client.Get(ctx, appsKey, ks))
		ks.Spec.Path = "./apps/staging"
		require.NoError(t, f.prod.Client.Update(ctx, ks))
		src := &kustomizev1.Kustomization{}
		require.NoError(t, f.staging.Client.Get(ctx, appsKey, src))
		src.Status.LastAppliedRevision = "main@sha1:" + head
		src.Status.LastAttemptedRevision = src.Status.LastAppliedRevision
		require.NoError(t, f.staging.Client.Update(ctx, src))
		sgr := &sourcev1.GitRepository{}
		require.NoError(t, f.staging.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: "flux-system"}, sgr))
		sgr.Status.Artifact.Revision = src.Status.LastAppliedRevision
		require.NoError(t, f.staging.Client.Update(ctx, sgr))
	case StrategyTag:
		f.semverTarget(">=1.0.0 <2.0.0")
	case StrategyPinnedTag:
		f.pinnedTarget("main")
		f.pushTo("main", map[string]string{"clusters/production/sources.yaml": strings.Replace(pinnedSources, "URL", f.srv.URL("org/fleet.git"), 1)}, "sources")
	}
}

// combination is one way to ask for a promotion, and the refusal it gets.
type combination struct {
	strategy              string
	review, fleet, signed bool
	refused               string
}

func (c combination) String() string {
	pick := func(on bool, yes, no string) string {
		if on {
			return yes
		}
		return no
	}
	return c.strategy + "/" + pick(c.fleet, "fleet", "one") + "/" + pick(c.review, "review", "push") + "/" + pick(c.signed, "signed", "unsigned")
}

// Every combination of (one target | fleet) × (images | revision | tag | pinned tag)
// × (push | review) × (signed | unsigned) either goes through the pipeline's load,
// gate, plan and decide phases (a dry run: the plan is made by the strategy chosen,
// with the channel and the key) or is refused up front by the strategy with its one
// line. The deliveries themselves are proven by the run tests and the e2e suite.
func TestEveryCombinationWorksOrIsRefused(t *testing.T) {
	k, err := signtest.NewOpenPGP(t.TempDir(), "bot", "")
	require.NoError(t, err)
	key, err := sign.Load(k.File, nil)
	require.NoError(t, err)
	var cases []combination
	for _, s := range []string{StrategyImages, StrategyRevision, StrategyTag, StrategyPinnedTag} {
		for _, fleet := range []bool{false, true} {
			for _, review := range []bool{false, true} {
				for _, signed := range []bool{false, true} {
					c := combination{strategy: s, review: review, fleet: fleet, signed: signed}
					switch {
					case s == StrategyTag && review:
						c.refused = "--review opens a pull request against a branch; production follows semver range"
					case s == StrategyPinnedTag && review:
						c.refused = "--review does not apply to production, whose GitRepository pins tag v1.0.0"
					case (s == StrategyTag || s == StrategyPinnedTag) && fleet:
						c.refused = "a fleet's waves are commits to branches: promote production on its own"
					}
					cases = append(cases, c)
				}
			}
		}
	}
	require.Len(t, cases, 32)
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			f := newFleetAt(t, "org/fleet.git")
			f.layout(t, c.strategy)
			before := f.head()
			p := &fakeflux.Progress{}
			o := f.options(p)
			o.DryRun = true
			if c.review {
				o.Review = &ReviewOptions{Provider: "gitea", Token: "token"}
			}
			if c.signed {
				o.SignKey = key
			}
			var res *v1alpha1.Promotion
			var err error
			if c.fleet {
				fr, ferr := RunWaves(context.Background(), f.clients, WaveOptions{Options: o, Waves: [][]flux.RefSpec{{o.To}}, Given: []string{o.To.Raw}})
				err = ferr
				if len(fr.Waves) == 1 && len(fr.Waves[0].Targets) == 1 {
					res = &fr.Waves[0].Targets[0]
				}
			} else {
				res, err = Run(context.Background(), f.clients, o)
			}
			if c.refused != "" {
				require.ErrorContains(t, err, c.refused)
				require.Equal(t, before, f.head(), "nothing was pushed")
				return
			}
			require.NoError(t, err, p.String())
			require.Equal(t, OutcomeDryRun, res.Outcome, p.String())
			require.Equal(t, c.strategy, res.Strategy)
			if c.signed {
				require.NotNil(t, res.Signing)
				require.Equal(t, key.String(), res.Signing.Key)
			} else {
				require.Nil(t, res.Signing)
			}
		})
	}
}

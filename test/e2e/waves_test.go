package e2e

// Issue #12: fleet promotion in waves, end to end on four real clusters (staging,
// prod-eu, and prod-us-1 and prod-us-2 reading one overlay, prod-us), one fleet for
// every case, each case leaving the fleet as the next one needs it.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// fleetDoc is the part of the FleetPromotion document the suite asserts, with the
// documented field names spelled out.
type fleetDoc struct {
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Gates   []struct {
		Name        string `json:"name"`
		Environment string `json:"environment"`
		Passed      bool   `json:"passed"`
	} `json:"gates"`
	Waves []struct {
		Number   int         `json:"number"`
		Given    string      `json:"given"`
		Outcome  string      `json:"outcome"`
		Commits  []commitDoc `json:"commits"`
		Rollback *struct {
			Commit *commitDoc `json:"commit"`
			Error  string     `json:"error"`
		} `json:"rollback"`
		Targets []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Outcome string `json:"outcome"`
			Target  docEnv `json:"target"`
			Changes []struct {
				Image string `json:"image"`
				To    string `json:"to"`
			} `json:"changes"`
			Commit    *commitDoc    `json:"commit"`
			Reconcile *reconcileDoc `json:"reconcile"`
		} `json:"targets"`
	} `json:"waves"`
	Error string `json:"error"`
}

func parseFleetDoc(t *testing.T, r result) fleetDoc {
	t.Helper()
	var d fleetDoc
	require.NoError(t, json.NewDecoder(strings.NewReader(r.Stdout)).Decode(&d), "stdout is not one JSON document:\n%s", r)
	require.Equal(t, "FleetPromotion", d.Kind, r.String())
	return d
}

func (d fleetDoc) targets(wave int) []string {
	var out []string
	for _, t := range d.Waves[wave].Targets {
		out = append(out, t.Metadata.Name)
	}
	return out
}

// readyAt is when a Kustomization's Ready condition last changed, as its cluster recorded it.
func readyAt(t *testing.T, f *fleet.Fleet, env string) (time.Time, string) {
	t.Helper()
	_, key := f.Kustomizations(env)
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, f.Client(env).Get(context.Background(), key, ks))
	c := apimeta.FindStatusCondition(ks.Status.Conditions, meta.ReadyCondition)
	require.NotNil(t, c, env)
	return c.LastTransitionTime.Time, ks.Status.LastAppliedRevision
}

// fetchedAt is when env's GitRepository stored its artifact, as its cluster recorded it.
func fetchedAt(t *testing.T, f *fleet.Fleet, env string) (time.Time, string) {
	t.Helper()
	r := &sourcev1.GitRepository{}
	require.NoError(t, f.Client(env).Get(context.Background(), f.SourceKey(), r))
	require.NotNil(t, r.Status.Artifact, env)
	return r.Status.Artifact.LastUpdateTime.Time, r.Status.Artifact.Revision
}

func filesOf(t *testing.T, f *fleet.Fleet, sha string) []string {
	t.Helper()
	out, err := gitserver.Git(f.Git.Dir(fleet.Repo), "diff-tree", "--no-commit-id", "--name-only", "-r", sha)
	require.NoError(t, err)
	return strings.Fields(out)
}

// myAppTag is the my-app tag an overlay pins on the branch's head ("" for the base's).
func myAppTag(t *testing.T, f *fleet.Fleet, overlay string) string {
	t.Helper()
	s := fileAt(t, f, "main", "apps/"+overlay+"/kustomization.yaml")
	i := strings.Index(s, "name: "+seed.MyAppImage+"\n")
	if i < 0 {
		return ""
	}
	rest := s[i:]
	j := strings.Index(rest, "newTag: ")
	require.GreaterOrEqual(t, j, 0, s)
	return strings.Trim(strings.SplitN(rest[j+len("newTag: "):], "\n", 2)[0], `"`)
}

func setSuspend(t *testing.T, f *fleet.Fleet, env string, suspend bool) {
	t.Helper()
	_, key := f.Kustomizations(env)
	ks := &kustomizev1.Kustomization{}
	c := f.Client(env)
	require.NoError(t, c.Get(context.Background(), key, ks))
	patch := client.MergeFrom(ks.DeepCopy())
	ks.Spec.Suspend = suspend
	require.NoError(t, c.Patch(context.Background(), ks, patch))
}

func TestFleetWaves(t *testing.T) {
	parallel(t)
	envs := seed.FleetEnvs()
	for i := range envs {
		envs[i].ProgressDeadlineSeconds = 10
	}
	f := fleet.StartT(t, fleet.Options{
		Seed: seed.Options{Envs: envs, InfraPodAnnotations: map[string]string{plane.ReadyDelayAnnotation: "1s"}},
		// my-app 1.2.0 never becomes Ready in the us region: promoting it fails health there.
		Customize: func(dir string) error {
			return editFile(dir, "apps/prod-us/my-app-patch.yaml", func(s string) string {
				return s + "  template:\n    metadata:\n      annotations:\n        " +
					plane.UnreadyImagesAnnotation + ": " + seed.MyAppImage + ":1.2.0\n"
			})
		},
	})
	initial := head(t, f)

	t.Run("unknown context lists the contexts", func(t *testing.T) {
		r := promote(t, f, "apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-ap-*", "--dry-run")
		require.Equal(t, 1, r.Code, r.String())
		require.Contains(t, r.Stderr, `--to "prod-ap-*" matches no kubeconfig context; contexts: prod-eu, prod-us-1, prod-us-2, staging`)
	})

	t.Run("a gate failing in one target blocks everything", func(t *testing.T) {
		setSuspend(t, f, "prod-us-2", true)
		defer setSuspend(t, f, "prod-us-2", false)
		r := promote(t, f, "apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-*", "--yes", "-o", "json")
		require.Equal(t, 3, r.Code, r.String())
		d := parseFleetDoc(t, r)
		require.Equal(t, "blocked", d.Outcome)
		require.Equal(t, []string{"prod-us-1", "prod-us-2"}, d.targets(1), "the glob expanded, sorted")
		failed := 0
		for _, g := range d.Gates {
			if !g.Passed {
				failed++
				require.Equal(t, "target-suspended", g.Name)
				require.Equal(t, "prod-us-2", g.Environment)
			}
		}
		require.Equal(t, 1, failed)
		require.Equal(t, initial, head(t, f), "nothing pushed")
		requireNoReconcileRequest(t, f, "prod-eu")
	})

	t.Run("waves in order, one commit for the shared overlay", func(t *testing.T) {
		r := promote(t, f, "apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-*", "--wait", "--yes", "-o", "json")
		require.Equal(t, 0, r.Code, r.String())
		d := parseFleetDoc(t, r)
		require.Equal(t, "promoted", d.Outcome)
		require.Len(t, d.Waves, 2)
		require.Len(t, d.Waves[0].Commits, 1)
		require.Len(t, d.Waves[1].Commits, 1, "prod-us-1 and prod-us-2 read one overlay: one commit")
		wave1, wave2 := d.Waves[0].Commits[0].SHA, d.Waves[1].Commits[0].SHA
		require.Equal(t, wave1, d.Waves[1].Commits[0].Parent)
		require.Equal(t, wave2, head(t, f))
		require.Equal(t, []string{"apps/prod-eu/kustomization.yaml"}, filesOf(t, f, wave1))
		require.Equal(t, []string{"apps/prod-us/kustomization.yaml"}, filesOf(t, f, wave2))
		require.Equal(t, []string{"prod-us-1/flux-system/apps", "prod-us-2/flux-system/apps"}, trailers(t, f, wave2)["Promoted-To"])
		for _, tg := range d.Waves[1].Targets {
			require.Equal(t, wave2, tg.Commit.SHA)
			require.True(t, tg.Reconcile.Ready, tg.Metadata.Name)
		}
		// The order, from the clusters' own timestamps: prod-eu was Ready on wave 1's
		// commit before either us cluster fetched wave 2's.
		euReady, euRev := readyAt(t, f, "prod-eu")
		require.Equal(t, fleet.Revision(wave1), euRev)
		for _, env := range []string{"prod-us-1", "prod-us-2"} {
			fetched, rev := fetchedAt(t, f, env)
			require.Equal(t, fleet.Revision(wave2), rev)
			require.False(t, fetched.Before(euReady), "%s fetched wave 2 at %s, before prod-eu was Ready at %s", env, fetched, euReady)
			_, applied := readyAt(t, f, env)
			require.Equal(t, fleet.Revision(wave2), applied)
			st, err := fleet.Deployment(context.Background(), f.Client(env), "prod-us", "my-app")
			require.NoError(t, err)
			require.Equal(t, []string{myApp11}, st.Images)
		}
		require.Contains(t, r.Stderr, "[prod-us-1] ")
	})

	// staging moves on to my-app 1.2.0, which fails health in the us region.
	stagingRuns(t, f, "1.1.0", "1.2.0")

	t.Run("a failing first wave stops the next", func(t *testing.T) {
		before := head(t, f)
		r := promote(t, f, "apps", "--from", "staging", "--to", "prod-us-1,prod-us-2", "--to", "prod-eu", "--wait", "--rollback-on-failure", "--yes")
		require.Equal(t, 4, r.Code, r.String())
		log := strings.Fields(gitLog(t, f, "--format=%H", before+"..main"))
		require.Len(t, log, 2, "the wave's commit and its revert")
		require.Equal(t, "1.1.0", myAppTag(t, f, "prod-eu"), "wave 2 was not touched")
		require.Equal(t, "1.1.0", myAppTag(t, f, "prod-us"), "wave 1 reverted")
		_, euRev := readyAt(t, f, "prod-eu")
		require.NotEqual(t, fleet.Revision(head(t, f)), euRev)
		require.Regexp(t, `prod-eu\s+2\s+-\s+skipped`, r.Stdout)
		require.Regexp(t, `prod-us-1\s+1\s+\w+\s+unhealthy, rolled back by`, r.Stdout)
	})

	t.Run("a failing wave is reverted and the earlier wave stays", func(t *testing.T) {
		r := promote(t, f, "apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-*", "--wait", "--rollback-on-failure", "--yes", "-o", "json")
		require.Equal(t, 4, r.Code, r.String())
		d := parseFleetDoc(t, r)
		require.Equal(t, "unhealthy", d.Outcome)
		require.Equal(t, "promoted", d.Waves[0].Outcome)
		require.Equal(t, "unhealthy", d.Waves[1].Outcome)
		require.NotNil(t, d.Waves[1].Rollback)
		require.Empty(t, d.Waves[1].Rollback.Error)
		revert := d.Waves[1].Rollback.Commit.SHA
		require.Equal(t, revert, head(t, f))
		require.Equal(t, []string{"apps/prod-us/kustomization.yaml"}, filesOf(t, f, revert), "only the failed wave is reverted")
		require.Equal(t, "1.2.0", myAppTag(t, f, "prod-eu"), "wave 1 stays")
		require.Equal(t, "1.1.0", myAppTag(t, f, "prod-us"))
		_, euRev := readyAt(t, f, "prod-eu")
		require.Equal(t, fleet.Revision(d.Waves[0].Commits[0].SHA), euRev)
		for _, env := range []string{"prod-us-1", "prod-us-2"} {
			_, rev := readyAt(t, f, env)
			require.Equal(t, fleet.Revision(revert), rev, "%s is back on the revert", env)
		}
		require.Contains(t, r.Stderr, "wave 2 rolled back; wave 1 stays promoted")
	})

	t.Run("status of every cluster", func(t *testing.T) {
		r := promote(t, f, "status", "--all-contexts", "-o", "json")
		require.Equal(t, 0, r.Code, r.String())
		var st struct {
			Environments []struct {
				Context       string `json:"context"`
				Kustomization string `json:"kustomization"`
				Ready         bool   `json:"ready"`
				SourceLag     *int   `json:"sourceLag"`
			} `json:"environments"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &st))
		require.Len(t, st.Environments, 8, "four clusters, two Kustomizations each")
		lag := map[string]int{}
		for _, e := range st.Environments {
			require.NotNil(t, e.SourceLag, e.Context+"/"+e.Kustomization)
			lag[e.Context+"/"+e.Kustomization] = *e.SourceLag
		}
		require.Equal(t, 2, lag["prod-eu/apps"], "prod-eu applied wave 1 and lacks wave 2 and its revert")
		require.Equal(t, 0, lag["prod-us-1/apps"])
		r = promote(t, f, "status", "--contexts", "prod-us-*", "--kustomization", "apps")
		require.Equal(t, 0, r.Code, r.String())
		require.Regexp(t, `(?m)^prod-us-2\s+flux-system/apps\s.*up to date$`, r.Stdout)
		require.Equal(t, 3, strings.Count(r.Stdout, "\n"), r.Stdout)
	})
}

package e2e

// Issue 13, 2: promotions and rollbacks racing each other into one environment, as
// CI pipelines do. The Git server refuses non-fast-forward pushes, so a force push
// fails the run; every assertion reads the branch with git itself.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

const qa = "qa"

// raceFleet is one shared cluster with production, staging and qa, and 14 extra apps
// (app-000 ... app-013): production runs 1.0.0 of each, staging 1.0.1, qa 1.0.2.
// Redis is 7.2.4 in production, 7.2.5 in staging and 7.3.0 in qa.
func raceFleet(t *testing.T) *fleet.Fleet {
	envs := []seed.Env{
		{Name: prod, Replicas: 5, ProgressDeadlineSeconds: 10},
		{Name: staging, Replicas: 2, ProgressDeadlineSeconds: 10, Images: map[string]string{seed.MyAppImage: "1.1.0", seed.RedisImage: "7.2.5"}},
		{Name: qa, ProgressDeadlineSeconds: 10, Images: map[string]string{seed.RedisImage: "7.3.0"}},
	}
	return fleet.StartT(t, fleet.Options{Shared: true, Seed: seed.Options{Envs: envs, ExtraApps: 14,
		InfraPodAnnotations: map[string]string{plane.ReadyDelayAnnotation: infraDelay}}})
}

func extraApp(i int) string { return fmt.Sprintf("app-%03d", i) }

// attemptsOf is commit.attempts of a promotion's or rollback's JSON.
func attemptsOf(t *testing.T, r result) int {
	t.Helper()
	var d struct {
		Commit *struct {
			Attempts int `json:"attempts"`
		} `json:"commit"`
	}
	require.NoError(t, json.NewDecoder(strings.NewReader(r.Stdout)).Decode(&d), r.String())
	if d.Commit == nil {
		return 0
	}
	return d.Commit.Attempts
}

// together runs n commands at the same moment and returns their results in order.
func together(n int, run func(i int) result) []result {
	out := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = run(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// requireLinear asserts that the branch went from before to after through exactly
// the commits given (in any order), each with one parent that is the previous head.
func requireLinear(t *testing.T, f *fleet.Fleet, before, after string, commits []string) {
	t.Helper()
	require.Equal(t, "", gitLog(t, f, "--merges", "--format=%H", before+".."+after), "no merge commits")
	list := strings.Fields(gitLog(t, f, "--reverse", "--format=%H", before+".."+after))
	require.ElementsMatch(t, commits, list, "exactly these commits landed")
	prev := before
	for _, c := range list {
		require.Equal(t, prev, gitLog(t, f, "-1", "--format=%P", c), "%s descends from the head before it", c)
		prev = c
	}
}

// overlayTag is the tag production's overlay pins for repository at sha.
func overlayTag(t *testing.T, f *fleet.Fleet, sha, repository string) string {
	t.Helper()
	s := fileAt(t, f, sha, "apps/production/kustomization.yaml")
	i := strings.Index(s, "name: "+repository+"\n")
	if i < 0 {
		return ""
	}
	rest := s[i:]
	j := strings.Index(rest, "newTag: ")
	require.GreaterOrEqual(t, j, 0, s)
	return strings.Trim(strings.SplitN(rest[j+len("newTag: "):], "\n", 2)[0], `"`)
}

func TestConcurrentPromotionsAndRollbacks(t *testing.T) {
	parallel(t)
	f := raceFleet(t)
	ctx := context.Background()
	from, to := f.AppsRef(staging), f.AppsRef(prod)
	promoteFrom := func(src string, args ...string) result {
		return promote(t, f, append([]string{"--from", src, "--to", to, "--yes", "-o", "json"}, args...)...)
	}
	// settled waits until every environment has applied the head and is Ready: the
	// environments share one GitRepository, so the last case's pushes have the
	// sources reconciling too, and the source-ready gate would refuse them.
	settled := func(t *testing.T) string {
		t.Helper()
		h := head(t, f)
		for _, env := range []string{prod, staging, qa} {
			require.NoError(t, f.WaitApplied(ctx, env, h, 3*time.Minute))
		}
		return h
	}

	// Defect 1: five --wait --rollback-on-failure promotions of different apps at
	// once. Flux applies a revision containing several of them at a time; every
	// process must accept it, and none may roll back a healthy change.
	t.Run("WaitRollbackOnFailure", func(t *testing.T) {
		before := settled(t)
		rs := together(5, func(i int) result {
			return promoteFrom(from, "--app", extraApp(i), "--wait", "--rollback-on-failure", "--timeout", "3m")
		})
		var commits []string
		for _, r := range rs {
			require.Equal(t, 0, r.Code, r.String())
			d := parseDoc(t, r)
			require.Equal(t, "promoted", d.Outcome, r.String())
			require.True(t, d.Reconcile.Ready, r.String())
			require.NotContains(t, r.Stdout, `"rollback"`, "no rollback of a healthy promotion")
			commits = append(commits, d.Commit.SHA)
		}
		after := head(t, f)
		requireLinear(t, f, before, after, commits)
		require.Empty(t, strings.TrimSpace(gitLog(t, f, "--format=%(trailers:key=Rolled-Back)", before+".."+after)), "nothing rolled back")
		require.NoError(t, f.WaitApplied(ctx, prod, after, 2*time.Minute))
		for i := range 5 {
			require.Equal(t, "1.0.1", overlayTag(t, f, after, "ghcr.io/my-org/"+extraApp(i)))
		}
	})

	// Ten promotions of ten different apps at once: all land, linear, no edit lost,
	// and the races are visible in attempts.
	t.Run("TenDifferentApps", func(t *testing.T) {
		before := settled(t)
		apps := []string{"my-app"}
		for i := 5; i < 14; i++ {
			apps = append(apps, extraApp(i))
		}
		rs := together(len(apps), func(i int) result { return promoteFrom(from, "--app", apps[i]) })
		var commits []string
		maxAttempts := 0
		for _, r := range rs {
			require.Equal(t, 0, r.Code, r.String())
			d := parseDoc(t, r)
			require.Equal(t, "promoted", d.Outcome, r.String())
			require.Len(t, d.Changes, 1, r.String())
			commits = append(commits, d.Commit.SHA)
			maxAttempts = max(maxAttempts, attemptsOf(t, r))
		}
		require.Greater(t, maxAttempts, 1, "ten pushes at once: at least one lost a race and was re-made")
		after := head(t, f)
		requireLinear(t, f, before, after, commits)
		// No edit lost: every app at staging's version, redis and the first five untouched.
		require.Equal(t, "1.1.0", overlayTag(t, f, after, seed.MyAppImage))
		for i := range 14 {
			require.Equal(t, "1.0.1", overlayTag(t, f, after, "ghcr.io/my-org/"+extraApp(i)), extraApp(i))
		}
		require.Equal(t, "", overlayTag(t, f, after, seed.RedisImage), "redis still runs the base's tag")
		require.NoError(t, f.WaitApplied(ctx, prod, after, 2*time.Minute))
	})

	// The same app, two versions: five pipelines promote redis from staging (7.2.5)
	// and five from qa (7.3.0), at once. Each either lands its version on the head it
	// saw or says the branch already has it; the branch ends on the last one landed.
	t.Run("SameAppTwoVersions", func(t *testing.T) {
		before := settled(t)
		rs := together(10, func(i int) result {
			src := from
			if i%2 == 1 {
				src = f.AppsRef(qa)
			}
			return promoteFrom(src, "--app", "redis")
		})
		var commits, resumed []string
		landed := map[string]string{} // commit -> version
		for _, r := range rs {
			require.Equal(t, 0, r.Code, r.String())
			d := parseDoc(t, r)
			switch d.Outcome {
			case "promoted":
				require.Len(t, d.Changes, 1, r.String())
				commits = append(commits, d.Commit.SHA)
				landed[d.Commit.SHA] = d.Changes[0].To
				require.Equal(t, d.Changes[0].To, overlayTag(t, f, d.Commit.SHA, seed.RedisImage), "the commit sets what it says")
				require.Equal(t, d.Changes[0].From, orBase(overlayTag(t, f, d.Commit.Parent, seed.RedisImage)), "planned on the head it pushed on")
			case "nothing-to-promote":
				require.Nil(t, d.Commit, r.String())
				require.Regexp(t, `nothing to promote: .*(already has these versions|already runs)`, r.Stderr, "the loser says what happened")
			case "resumed":
				// A loser that planned after a winner pushed and before Flux applied it
				// finds that promotion on the branch, unapplied, and announces it (as a
				// re-run after a failed announcement does): it pushes nothing itself.
				require.NotNil(t, d.Commit, r.String())
				require.Empty(t, d.Changes, r.String())
				require.Contains(t, r.Stderr, "has not applied it", r.String())
				resumed = append(resumed, d.Commit.SHA)
			default:
				t.Fatalf("unexpected outcome:\n%s", r)
			}
		}
		require.NotEmpty(t, commits)
		for _, sha := range resumed {
			require.Contains(t, commits, sha, "a resumed run announced a commit one of the others landed")
		}
		after := head(t, f)
		requireLinear(t, f, before, after, commits)
		require.Equal(t, landed[after], overlayTag(t, f, after, seed.RedisImage), "the last one landed wins")
		require.Equal(t, "1.1.0", overlayTag(t, f, after, seed.MyAppImage), "no other edit lost")
		require.NoError(t, f.WaitApplied(ctx, prod, after, 2*time.Minute))
	})

	// Ten rollbacks at once, of the last promotion of three environments on one
	// branch (four of production's, three each of staging's and qa's): one per
	// environment lands, linear, each reverting exactly its environment's last
	// promotion and nothing else; the others push nothing and say another rollback
	// landed first; and the three landing ones raced each other.
	t.Run("TenRollbacks", func(t *testing.T) {
		last := map[string]string{prod: settled(t)} // the redis race's last promotion
		for _, p := range []struct{ from, to, app string }{{qa, staging, "redis"}, {staging, qa, "my-app"}} {
			settled(t)
			r := promote(t, f, "--from", f.AppsRef(p.from), "--to", f.AppsRef(p.to), "--app", p.app, "--yes", "-o", "json")
			require.Equal(t, 0, r.Code, r.String())
			last[p.to] = parseDoc(t, r).Commit.SHA
		}
		before := settled(t)
		// Production's rollbacks name the promotion to go back to, so that one
		// starting after the revert landed finds nothing after it instead of
		// reverting the promotion before (staging and qa have only the one).
		prodPromotions := strings.Fields(gitLog(t, f, "-2", "--format=%H", before, "--", "apps/production/kustomization.yaml"))
		require.Equal(t, last[prod], prodPromotions[0])
		envs := []string{prod, staging, qa, prod, staging, qa, prod, staging, qa, prod}
		rs := together(len(envs), func(i int) result {
			args := []string{"rollback", f.AppsRef(envs[i]), "--yes", "-o", "json", "--reason", fmt.Sprintf("pipeline %d", i)}
			if envs[i] == prod {
				args = append(args, "--to-revision", prodPromotions[1])
			}
			return promote(t, f, args...)
		})
		won := map[string]string{} // env -> revert
		var commits []string
		maxAttempts, sawRevert := 0, 0
		for i, r := range rs {
			d := parseRollback(t, r)
			switch r.Code {
			case 0:
				require.Equal(t, "rolled-back", d.Outcome, r.String())
				require.NotContains(t, won, envs[i], "one rollback of %s lands:\n%s", envs[i], r)
				won[envs[i]] = d.Commit.SHA
				commits = append(commits, d.Commit.SHA)
				maxAttempts = max(maxAttempts, attemptsOf(t, r))
			case 1:
				require.Nil(t, d.Commit, r.String())
				// Lost the race, or started after the revert landed.
				require.Regexp(t, `nothing to roll back: (\S+ already rolled back on branch main \(another rollback landed first|\S+ is the last promotion to |no promotion to )`, d.Error, r.String())
				if strings.Contains(d.Error, "another rollback landed first") {
					sawRevert++ // its push lost to a revert of the same promotion
				}
			default:
				t.Fatalf("unexpected exit code:\n%s", r)
			}
		}
		require.Len(t, won, 3, "one rollback per environment lands")
		// The race is visible either way: a winner re-made its revert on a newer head,
		// or a loser's push met the same revert already landed. (On a loaded machine
		// the three winners can push one after another, none of them retrying.)
		require.True(t, maxAttempts > 1 || sawRevert > 0,
			"ten rollbacks at once: at least one lost a race (re-made on the new head, or met the same revert landed first)")
		after := head(t, f)
		requireLinear(t, f, before, after, commits)
		for env, revert := range won {
			require.Equal(t, []string{last[env]}, trailers(t, f, revert)["Rolled-Back"], env)
			// Each environment is back where its last promotion found it; the
			// rollbacks of the others lost nothing of it.
			overlay := "apps/" + env + "/kustomization.yaml"
			require.Equal(t, fileAt(t, f, last[env]+"^", overlay), fileAt(t, f, after, overlay), env)
			require.NoError(t, f.WaitApplied(ctx, env, after, 2*time.Minute))
		}
	})
}

// orBase is "" (the base's tag, no images: entry) as the plan's From shows it.
func orBase(tag string) string {
	if tag == "" {
		return "7.2.4"
	}
	return tag
}

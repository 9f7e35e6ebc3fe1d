package e2e

// Issue #19: a fleet goes through the same pipeline as one target, so what works for
// one target works for a fleet: signing, review (a pull request per wave, the next
// wave only once the previous one is merged and applied), and a re-run that finishes
// a push Flux was never told of.

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// A fleet signed with --sign-key, whose targets verify HEAD (spec.verify): every
// wave's commit is signed, and source-controller reports SourceVerified=True on it.
func TestFleetSigned(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seed.Options{Envs: seed.FleetEnvs()}})
	ctx := context.Background()
	ssh, err := signtest.NewSSH(t.TempDir(), "ci", "")
	require.NoError(t, err)
	key, err := sign.Load(ssh.File, nil)
	require.NoError(t, err)
	keys := map[string]string{ssh.SecretEntry("ci"): ssh.Public}
	for _, env := range []string{"prod-eu", "prod-us-1"} {
		require.NoError(t, f.Retarget(ctx, env, fleet.GitRepositoryChange{Branch: fleet.Branch, VerifyMode: "HEAD", VerifySecret: "signing-keys", Keys: keys}))
	}

	r := promote(t, f, "apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-1", "--yes", "--dry-run")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "verifies signatures (spec.verify mode HEAD, keys in Secret flux-system/signing-keys) and would refuse an unsigned promotion: pass --sign-key FILE")

	r = promote(t, f, "apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-1", "--sign-key", ssh.File, "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseFleetDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.Len(t, d.Waves, 2)
	for i, env := range []string{"prod-eu", "prod-us-1"} {
		require.Len(t, d.Waves[i].Commits, 1)
		sha := d.Waves[i].Commits[0].SHA
		out, err := signtest.Verify(f.Git.Dir(fleet.Repo), t.TempDir(), "commit", sha, ssh)
		require.NoError(t, err, "git verify-commit %s: %s", sha, out)
		status, msg, rev, err := f.SourceVerified(ctx, env)
		require.NoError(t, err)
		if i == 0 {
			// prod-eu may have moved on to wave 2's commit, which it verifies too.
			require.Contains(t, []string{fleet.Revision(sha), fleet.Revision(d.Waves[1].Commits[0].SHA)}, rev, env)
		} else {
			require.Equal(t, fleet.Revision(sha), rev, env)
		}
		require.Equal(t, metav1.ConditionTrue, status, "%s: %s", env, msg)
	}
	require.Contains(t, r.Stderr, "signing with "+key.String()+", trusted by Secret flux-system/signing-keys")
}

// A fleet in review mode against Gitea: one pull request per wave; wave 2's pull
// request is opened only after wave 1's is merged and Flux has applied it.
func TestFleetReview(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seed.Options{Envs: seed.FleetEnvs()}, Gitea: true})
	g := f.Gitea
	rr := &reviewRun{t: t, f: f}
	stderrHas, wait := rr.start("apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-*", "--review", "--git-provider", "gitea",
		"--yes", "--wait", "--timeout", "5m", "-o", "json")

	// waitFor fails with the run's output when cond does not come within limit.
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(limit); !cond(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s:\n%s", what, wait())
			}
		}
	}
	opened := regexp.MustCompile(`opened pull request #(\d+)`)
	var first int
	waitFor("wave 1's pull request", 2*time.Minute, func() bool { return stderrHas("opened pull request #") })
	prs := giteaPulls(t, g, "open")
	require.Len(t, prs, 1, "wave 2 waits for wave 1")
	first = prs[0].Number
	require.Regexp(t, `^promote/prod-eu/`, prs[0].Head.Ref)
	require.Contains(t, prs[0].Title, "promote(prod-eu)")
	time.Sleep(3 * time.Second)
	require.Len(t, giteaPulls(t, g, "open"), 1, "still one pull request while wave 1 is not merged")
	requireNoReconcileRequest(t, f, "prod-us-1")

	giteaMerge(t, g, first, "merge")
	merged := giteaPull(t, g, first).MergeCommit
	require.NotEmpty(t, merged)
	waitFor("wave 2's pull request", 3*time.Minute, func() bool {
		open := giteaPulls(t, g, "open")
		return len(open) == 1 && open[0].Number != first
	})
	// Wave 1 was merged and applied before wave 2's pull request was opened.
	requireAppsApplied(t, f, "prod-eu", merged)
	second := giteaPulls(t, g, "open")[0]
	require.Regexp(t, `^promote/prod-us-1/`, second.Head.Ref)
	require.Contains(t, second.Title, "promote(prod-us-1, prod-us-2)")
	giteaMerge(t, g, second.Number, "merge")

	r := wait()
	require.Equal(t, 0, r.Code, r.String())
	d := parseFleetDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	numbers := opened.FindAllStringSubmatch(r.Stderr, -1)
	require.Len(t, numbers, 2, "two pull requests, one per wave")
	require.Equal(t, strconv.Itoa(first), numbers[0][1])
	require.Equal(t, strconv.Itoa(second.Number), numbers[1][1])
	for _, wave := range d.Waves {
		for _, tg := range wave.Targets {
			require.Equal(t, "promoted", tg.Outcome, tg.Metadata.Name)
			require.True(t, tg.Reconcile.Ready, tg.Metadata.Name)
		}
	}
	requireAppsApplied(t, f, "prod-us-1", giteaPull(t, g, second.Number).MergeCommit)
}

// A fleet whose first wave was pushed and never announced (the Git host froze after
// taking the push): a re-run announces wave 1, follows it, and goes on with wave 2.
func TestFleetRerunFinishesAnUnannouncedPush(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seed.Options{Envs: seed.FleetEnvs()}, GitProxy: true})
	before := head(t, f)
	args := []string{"apps", "--from", "staging", "--to", "prod-eu", "--to", "prod-us-*", "--yes", "-o", "json"}

	setProxy(t, f, fleet.ProxyHangAfterPush)
	r := promote(t, f, append(args, "--timeout", "15s")...)
	require.Equal(t, 6, r.Code, r.String())
	d := parseFleetDoc(t, r)
	require.Equal(t, "unannounced", d.Outcome, r.String())
	pushed := head(t, f)
	require.NotEqual(t, before, pushed)
	require.Equal(t, before, gitLog(t, f, "-1", "--format=%P", pushed))
	require.Equal(t, "skipped", d.Waves[1].Outcome, r.String())
	requireNoReconcileRequest(t, f, "prod-eu")
	setProxy(t, f, fleet.ProxyUp)

	r = promote(t, f, append(args, "--wait", "--timeout", "4m")...)
	require.Equal(t, 0, r.Code, r.String())
	d = parseFleetDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.Equal(t, "resumed", d.Waves[0].Targets[0].Outcome, r.String())
	require.Equal(t, pushed, d.Waves[0].Targets[0].Commit.SHA, "wave 1 is the pushed commit, not a new one")
	require.Len(t, d.Waves[1].Commits, 1)
	wave2 := d.Waves[1].Commits[0].SHA
	require.Equal(t, pushed, d.Waves[1].Commits[0].Parent)
	require.Equal(t, wave2, head(t, f))
	require.True(t, d.Waves[0].Targets[0].Reconcile.Ready, "wave 1 followed to Ready on the pushed commit")
	for _, env := range []string{"prod-us-1", "prod-us-2"} {
		requireAppsApplied(t, f, env, wave2)
	}
}

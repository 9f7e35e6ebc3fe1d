package e2e

// Issue 17: the target's policy, read live from annotations on its Kustomization.
// The fleets here are bootstrapped (fleet.Options.Bootstrap): Flux applies the
// environments' Kustomizations from clusters/<env>/ in Git, so every policy change
// below is a commit Flux applies, as it is for users.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

const policyPrefix = "promote.kubectl-promote.dev/"

// commitPolicy commits policy annotations (name without the prefix → value; ""
// removes it) on env's apps Kustomization in Git, clusters/<env>/apps.yaml, and waits
// until Flux has applied the commit and the live Kustomization carries them. It
// returns the commit.
func commitPolicy(t *testing.T, f *fleet.Fleet, env string, ann map[string]string) string {
	t.Helper()
	var names []string
	for k := range ann {
		names = append(names, k)
	}
	sha, err := f.CommitKustomization(context.Background(), env, "policy("+env+"): "+strings.Join(names, ", "),
		func(ks *kustomizev1.Kustomization) {
			a := ks.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			for k, v := range ann {
				if v == "" {
					delete(a, policyPrefix+k)
				} else {
					a[policyPrefix+k] = v
				}
			}
			ks.SetAnnotations(a)
		},
		func(ks *kustomizev1.Kustomization) bool {
			for k, v := range ann {
				if ks.GetAnnotations()[policyPrefix+k] != v {
					return false
				}
			}
			return true
		})
	require.NoError(t, err)
	return sha
}

// policyFleet is the seed fleet, bootstrapped so the policy is applied from Git.
func policyFleet(t *testing.T, o fleet.Options) *fleet.Fleet {
	o.Seed, o.Bootstrap = seedOptions(), true
	return fleet.StartT(t, o)
}

// A malformed policy is an error naming the annotation; a deny window open now
// blocks (exit 3) and status shows it closed; --force passes and is recorded. A
// rollback passes that window, but not one "including rollbacks" unless --force,
// which the revert records.
func TestPolicyWindowBlocksAndForce(t *testing.T) {
	parallel(t)
	f := policyFleet(t, fleet.Options{})

	// A malformed policy is an error naming the annotation; nothing is written.
	before := commitPolicy(t, f, prod, map[string]string{"allow": "weekdays"})
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, `annotation promote.kubectl-promote.dev/allow: "weekdays"`, r.String())
	require.Contains(t, r.Stderr, "fix it in Git", r.String())
	require.Equal(t, before, head(t, f))

	// A deny window open now (computed relative to now, in UTC) blocks: exit 3.
	start := time.Now().UTC().Add(-time.Minute)
	window := fmt.Sprintf("daily %s for 2h UTC", start.Format("15:04"))
	before = commitPolicy(t, f, prod, map[string]string{"allow": "", "deny": window})
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--yes")
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stdout+r.Stderr, `deny window "`+window+`"`, r.String())
	require.Contains(t, r.Stderr, "window", r.String())
	require.Equal(t, before, head(t, f))

	// status shows the policy and that the window is closed.
	r = promote(t, f, "status", staging, prod, "--kustomization", "apps", "-o", "json")
	require.Contains(t, r.Stdout, `"deny": [`, r.String())
	require.Contains(t, r.Stdout, `"open": false`, r.String())

	// --force passes, and the commit records the failed gate.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--yes", "--force")
	require.Equal(t, 0, r.Code, r.String())
	sha := head(t, f)
	require.NotEqual(t, before, sha)
	gates := strings.Join(trailers(t, f, sha)["Promote-Gates"], " ")
	require.Contains(t, gates, "forced", gates)
	require.Contains(t, gates, "window", gates)

	// A rollback is allowed in a deny window that does not name rollbacks (dry run),
	// and refused in one that does: exit 3, nothing written.
	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	before = commitPolicy(t, f, prod, map[string]string{"deny": window + " including rollbacks"})
	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--yes")
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stderr, "rollbacks to production are closed: deny window", r.String())
	require.Equal(t, before, head(t, f))

	// --force rolls back, and the revert records it.
	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--yes", "--force")
	require.Equal(t, 0, r.Code, r.String())
	revert := head(t, f)
	require.NotEqual(t, before, revert)
	tr := trailers(t, f, revert)
	require.Equal(t, []string{sha}, tr["Rolled-Back"], tr)
	require.Equal(t, []string{"forced (failed: window)"}, tr["Promote-Gates"], tr)
}

// A promotion from an environment the target does not accept is refused; a freeze
// ending in a few seconds blocks and says when it ends, status shows it, and once
// it has ended the same command promotes.
func TestPolicyUpstreamsAndFreezeEnds(t *testing.T) {
	parallel(t)
	f := policyFleet(t, fleet.Options{})
	args := []string{"apps", "--from", staging, "--to", prod, "--yes"}

	before := commitPolicy(t, f, prod, map[string]string{"upstreams": "qa"})
	r := promote(t, f, args...)
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stdout+r.Stderr, "production accepts promotions only from qa, not from staging", r.String())
	require.Equal(t, before, head(t, f))

	// The freeze is set far enough ahead for Flux to apply it and the command to be
	// refused once; then the test waits for its end.
	until := time.Now().UTC().Add(40 * time.Second).Truncate(time.Second)
	before = commitPolicy(t, f, prod, map[string]string{"upstreams": "staging", "freeze-until": until.Format(time.RFC3339)})
	require.Less(t, time.Now().Add(5*time.Second), until, "set-up took too long to see the freeze")
	r = promote(t, f, append(args, "-o", "json")...)
	require.Equal(t, 3, r.Code, r.String())
	d := parseDoc(t, r)
	gates := map[string]bool{}
	for _, g := range d.Gates {
		gates[g.Name] = g.Passed
		if g.Name == "window" {
			require.Contains(t, g.Message, "closed: frozen until", r.String())
			require.Contains(t, g.Message, "the next window opens "+until.Format("Mon 2006-01-02 15:04"), r.String())
		}
	}
	require.Equal(t, map[string]bool{"window": false, "upstream": true}, map[string]bool{"window": gates["window"], "upstream": gates["upstream"]}, r.String())
	require.Equal(t, before, head(t, f))

	r = promote(t, f, "status", staging, prod, "--kustomization", "apps")
	require.Contains(t, r.Stdout, "production: policy: window closed (frozen until", r.String())
	require.Contains(t, r.Stdout, "from staging", r.String())

	time.Sleep(time.Until(until) + time.Second)
	r = promote(t, f, args...)
	require.Equal(t, 0, r.Code, r.String())
	sha := head(t, f)
	require.NotEqual(t, before, sha)
	require.Equal(t, []string{"passed"}, trailers(t, f, sha)["Promote-Gates"])
}

// A deny window naming rollbacks that opens while a promotion waits stops its
// --rollback-on-failure: the check fails once the window is open, the promotion is
// unhealthy (exit 4) and stays, and the refused rollback says why.
func TestPolicyDenyWindowStopsAutomaticRollback(t *testing.T) {
	parallel(t)
	f := policyFleet(t, fleet.Options{})
	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer never.Close()

	// The window opens at a minute boundary far enough ahead for Flux to apply the
	// policy and the promotion to pass its window gate.
	opens := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	if time.Until(opens) < 30*time.Second {
		opens = opens.Add(time.Minute)
	}
	commitPolicy(t, f, prod, map[string]string{"deny": fmt.Sprintf("daily %s for 1h UTC including rollbacks", opens.Format("15:04"))})
	require.Less(t, time.Now().Add(10*time.Second), opens, "set-up took too long to promote before the window")
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--yes", "--wait", "--rollback-on-failure", "-o", "json",
		"--verify", never.URL, "--verify-for", time.Until(opens.Add(5*time.Second)).Round(time.Second).String())
	require.Equal(t, 4, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "unhealthy", d.Outcome, r.String())
	var rb struct {
		Rollback *struct {
			Commit *struct{} `json:"commit"`
			Error  string    `json:"error"`
		} `json:"rollback"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rb))
	require.NotNil(t, rb.Rollback, r.String())
	require.Nil(t, rb.Rollback.Commit, r.String())
	require.Contains(t, rb.Rollback.Error, "not rolled back: window: rollbacks to production are closed: deny window", r.String())
	require.Equal(t, d.Commit.SHA, head(t, f), "the promotion stays")
}

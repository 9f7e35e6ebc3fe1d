package e2e

// Issue 17 on Gitea: required review applied from Git, and commit statuses on the
// promoted commits read back through Gitea's API.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// giteaStatus is a commit status as Gitea's API returns it.
type giteaStatus struct {
	ID          int64  `json:"id"`
	State       string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
}

// giteaStatuses are the statuses posted on sha, oldest first.
func giteaStatuses(t *testing.T, g *plane.Gitea, sha string) []giteaStatus {
	t.Helper()
	var out []giteaStatus
	require.NoError(t, g.API(context.Background(), http.MethodGet, fmt.Sprintf("/repos/%s/%s/statuses/%s?limit=50", g.User, fleet.GiteaRepo, sha), nil, &out))
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// promotedStatus is the part of a Promotion this test reads besides doc.
type promotedStatus struct {
	CommitStatus *struct {
		Provider string `json:"provider"`
		Context  string `json:"context"`
		SHA      string `json:"sha"`
		State    string `json:"state"`
	} `json:"commitStatus"`
	Rollback *struct {
		Commit *struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	} `json:"rollback"`
}

// Production requires review in Git: a direct push is refused (exit 3) naming
// --review, and --review opens a pull request. Without it, a promotion with --wait
// leaves pending then success on its commit; one whose verification never passes,
// with --rollback-on-failure, leaves pending then failure with the reason, then
// failure naming the revert.
func TestPolicyReviewAndCommitStatuses(t *testing.T) {
	parallel(t)
	f := policyFleet(t, fleet.Options{Gitea: true})
	g := f.Gitea
	rr := &reviewRun{t: t, f: f}
	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status": "degraded"}`)
	}))
	defer never.Close()
	base := []string{"apps", "--from", staging, "--to", prod, "--git-provider", "gitea", "--yes"}

	before := commitPolicy(t, f, prod, map[string]string{"require-review": "true"})
	r := rr.run(base...)
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stdout+r.Stderr, "production requires review (promote.kubectl-promote.dev/require-review): run the same command with --review", r.String())
	require.Equal(t, before, head(t, f))

	r = rr.run(append(base, "--review", "-o", "json")...)
	require.Equal(t, 0, r.Code, r.String())
	pr := parseReview(t, r)
	require.Equal(t, "review-open", pr.Outcome, r.String())
	require.NotNil(t, pr.PullRequest, r.String())
	passed := map[string]bool{}
	for _, gate := range parseDoc(t, r).Gates {
		passed[gate.Name] = gate.Passed
	}
	require.True(t, passed["review"], r.String())
	require.Equal(t, before, head(t, f), "the tracked branch is untouched")

	// Statuses: pending, then success.
	commitPolicy(t, f, prod, map[string]string{"require-review": ""})
	r = rr.run(append(base, "--app", "my-app", "--wait", "-o", "json")...)
	require.Equal(t, 0, r.Code, r.String())
	d := parseDoc(t, r)
	require.NotNil(t, d.Commit, r.String())
	var sd promotedStatus
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &sd))
	require.NotNil(t, sd.CommitStatus, r.String())
	require.Equal(t, "success", sd.CommitStatus.State)
	require.Equal(t, d.Commit.SHA, sd.CommitStatus.SHA)
	st := giteaStatuses(t, g, d.Commit.SHA)
	require.Len(t, st, 2, "%+v", st)
	for i, want := range []string{"pending", "success"} {
		require.Equal(t, want, st[i].State, "%+v", st)
		require.Equal(t, "kubectl-promote/production", st[i].Context)
	}

	// A verification that never passes: failure with the reason, and the revert named.
	r = rr.run(append(base, "--app", "redis", "--wait", "--rollback-on-failure", "-o", "json",
		"--verify", never.URL, "--verify-expr", "body.status == 'ok'", "--verify-for", "3s")...)
	require.Equal(t, 4, r.Code, r.String())
	d = parseDoc(t, r)
	require.NotNil(t, d.Commit, r.String())
	sd = promotedStatus{}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &sd))
	require.NotNil(t, sd.Rollback, r.String())
	require.NotNil(t, sd.Rollback.Commit, r.String())
	require.Equal(t, sd.Rollback.Commit.SHA, head(t, f))
	st = giteaStatuses(t, g, d.Commit.SHA)
	require.Len(t, st, 3, "%+v", st)
	require.Equal(t, []string{"pending", "failure", "failure"}, []string{st[0].State, st[1].State, st[2].State}, "%+v", st)
	require.True(t, strings.HasPrefix(st[1].Description, "unhealthy: VerificationFailed: "), "%+v", st[1])
	require.Contains(t, st[2].Description, "rolled back by "+sd.Rollback.Commit.SHA[:12]+"; unhealthy: VerificationFailed", "%+v", st[2])
	require.Equal(t, "failure", sd.CommitStatus.State, r.String())

	// The revert itself, pushed by the rollback, carries no promotion status.
	require.Empty(t, giteaStatuses(t, g, sd.Rollback.Commit.SHA))
	for _, out := range rr.output {
		require.NotContains(t, out, g.Token)
	}
}

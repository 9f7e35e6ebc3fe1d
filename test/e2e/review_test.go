package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// reviewDoc is the part of -o json review mode adds.
type reviewDoc struct {
	Outcome     string `json:"outcome"`
	Error       string `json:"error"`
	PullRequest *struct {
		Provider    string `json:"provider"`
		URL         string `json:"url"`
		Number      int    `json:"number"`
		Branch      string `json:"branch"`
		State       string `json:"state"`
		MergeCommit string `json:"mergeCommit"`
	} `json:"pullRequest"`
	Commit *struct {
		SHA    string `json:"sha"`
		Branch string `json:"branch"`
	} `json:"commit"`
	Reconcile *struct {
		AppliedRevision string `json:"appliedRevision"`
		Ready           bool   `json:"ready"`
	} `json:"reconcile"`
}

// giteaPR is a pull request as Gitea's API returns it.
type giteaPR struct {
	Number int    `json:"number"`
	State  string `json:"state"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	Merged bool   `json:"merged"`
	Head   struct {
		Ref string `json:"ref"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
	MergeCommit string `json:"merge_commit_sha"`
}

// reviewRun is kubectl promote run with the fleet's Gitea token; every output is kept
// to prove the token never appears in any.
type reviewRun struct {
	t      *testing.T
	f      *fleet.Fleet
	mu     sync.Mutex
	output []string
}

func (rr *reviewRun) env() []string {
	return []string{"KUBECTL_PROMOTE_GIT_TOKEN=" + rr.f.Gitea.Token}
}

func (rr *reviewRun) keep(r result) result {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.output = append(rr.output, r.Stdout, r.Stderr)
	return r
}

// run runs kubectl promote ARGS to its end.
func (rr *reviewRun) run(args ...string) result {
	rr.t.Helper()
	return rr.keep(kubectl(rr.t, rr.f.Kubeconfig, rr.env(), append([]string{"promote"}, args...)...))
}

// start runs kubectl promote ARGS in the background; wait returns its result.
func (rr *reviewRun) start(args ...string) (stderrHas func(string) bool, wait func() result) {
	t := rr.t
	args = append([]string{"promote"}, args...)
	cmd := exec.Command("kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+rr.f.Kubeconfig, "HOME="+home, "NO_COLOR=1")
	cmd.Env = append(cmd.Env, rr.env()...)
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	require.NoError(t, cmd.Start())
	stderrHas = func(s string) bool { return strings.Contains(stderr.String(), s) }
	wait = func() result {
		t.Helper()
		err := cmd.Wait()
		r := result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
		if exit, ok := err.(*exec.ExitError); ok {
			r.Code = exit.ExitCode()
		} else {
			require.NoError(t, err)
		}
		t.Logf("kubectl %s → exit %d in %.1f s\n%s", strings.Join(args, " "), r.Code, r.Elapsed.Seconds(), indent(r.Stderr))
		return rr.keep(r)
	}
	return stderrHas, wait
}

// syncBuffer is a running command's stdout or stderr, which a test reads while the
// command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func parseReview(t *testing.T, r result) reviewDoc {
	t.Helper()
	var d reviewDoc
	require.NoError(t, json.NewDecoder(strings.NewReader(r.Stdout)).Decode(&d), "stdout is not one JSON document:\n%s", r)
	return d
}

func giteaPulls(t *testing.T, g *plane.Gitea, state string) []giteaPR {
	t.Helper()
	var prs []giteaPR
	require.NoError(t, g.API(context.Background(), http.MethodGet, fmt.Sprintf("/repos/%s/%s/pulls?state=%s", g.User, fleet.GiteaRepo, state), nil, &prs))
	return prs
}

func giteaPull(t *testing.T, g *plane.Gitea, n int) giteaPR {
	t.Helper()
	var pr giteaPR
	require.NoError(t, g.API(context.Background(), http.MethodGet, fmt.Sprintf("/repos/%s/%s/pulls/%d", g.User, fleet.GiteaRepo, n), nil, &pr))
	return pr
}

// giteaMerge merges pull request n as a reviewer would, with style "merge" or
// "squash" (the squash's message is the description, which ends with the trailers),
// once Gitea has found it mergeable.
func giteaMerge(t *testing.T, g *plane.Gitea, n int, style string) {
	t.Helper()
	pr := giteaPull(t, g, n)
	opts := map[string]any{"Do": style}
	if style == "squash" {
		opts["MergeTitleField"], opts["MergeMessageField"] = pr.Title, pr.Body
	}
	var last error
	require.Eventually(t, func() bool {
		last = g.API(context.Background(), http.MethodPost, fmt.Sprintf("/repos/%s/%s/pulls/%d/merge", g.User, fleet.GiteaRepo, n), opts, nil)
		return last == nil
	}, time.Minute, 300*time.Millisecond, "merge pull request #%d: %v", n, last)
}

// reviewStart bounds how long a review run may take to open its pull request and
// start waiting for review: seconds alone, but over a minute was seen with the e2e
// suite loading two cores to 30.
const reviewStart = 3 * time.Minute

// eventually waits for cond, a background run's progress, failing after limit.
func eventually(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, limit, 200*time.Millisecond, "waiting for %s", what)
}

// TestReview proves review mode end to end against a real Gitea that Flux reads the
// repository from, all on one fleet, each case leaving it where the next starts: a
// review promotion opens a pull request with the plan in it and leaves the branch and
// the cluster untouched; a re-run reports the same pull request; --wait ends with
// the documented exit when the pull request is closed; merged with a merge commit,
// --wait follows Flux to Ready on the merge revision and history lists it; a newer
// promotion squash-merged does the same; rollback --review opens a revert pull
// request; status lists it; and the token appears in no output.
func TestReview(t *testing.T) {
	parallel(t)
	// my-app 1.4.0 never becomes Ready in production (only there): the last case
	// promotes it to fail health.
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Gitea: true,
		Customize: func(dir string) error {
			return editFile(dir, "apps/production/my-app-patch.yaml", func(s string) string {
				return s + "  template:\n    metadata:\n      annotations:\n        " +
					plane.UnreadyImagesAnnotation + ": " + seed.MyAppImage + ":1.4.0\n"
			})
		}})
	g := f.Gitea
	rr := &reviewRun{t: t, f: f}
	base := []string{"apps", "--from", staging, "--to", prod, "--review", "--git-provider", "gitea", "--yes", "-o", "json"}
	branch := "promote/production/" + f.Initial[:12]
	// Each case starts where the one before left the fleet: the first failure ends the test.
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.FailNow()
		}
	}
	var first int

	step("opens a pull request and touches nothing else", func(t *testing.T) {
		rr.t = t
		r := rr.run(base...)
		require.Equal(t, 0, r.Code, r.String())
		d := parseReview(t, r)
		require.Equal(t, "review-open", d.Outcome, r.String())
		require.NotNil(t, d.PullRequest, r.String())
		require.Equal(t, "gitea", d.PullRequest.Provider)
		require.Equal(t, branch, d.PullRequest.Branch)
		require.Equal(t, "open", d.PullRequest.State)
		require.Equal(t, fmt.Sprintf("%s/%s/%s/pulls/%d", g.URL, g.User, fleet.GiteaRepo, d.PullRequest.Number), d.PullRequest.URL)
		require.NotNil(t, d.Commit)
		require.Equal(t, branch, d.Commit.Branch)
		first = d.PullRequest.Number

		pr := giteaPull(t, g, first)
		require.Equal(t, "open", pr.State)
		require.Equal(t, branch, pr.Head.Ref)
		require.Equal(t, fleet.Branch, pr.Base.Ref)
		require.Equal(t, "promote(production): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging", pr.Title)
		for _, want := range []string{"### Images", "| `" + seed.MyAppImage + "` | `1.0.0` | `1.1.0` | my-app |",
			"### Files", "apps/production/kustomization.yaml", "+    newTag: \"1.1.0\"", "### Rendered diff (Secrets masked)",
			"### Gates", "| source-ready | staging | ✅ passed |", "Promoted-From: staging/flux-system/apps",
			"Promoted-To: production/flux-system/apps", "Promote-Gates: passed"} {
			require.Contains(t, pr.Body, want)
		}
		bh, err := f.HeadOf(branch)
		require.NoError(t, err)
		require.Equal(t, d.Commit.SHA, bh)
		require.Equal(t, f.Initial, head(t, f), "the tracked branch is untouched")
		requireNoReconcileRequest(t, f, prod)
		requireDeployment(t, f, prod, "my-app", myApp10, true)
	})

	step("a re-run reports the same pull request", func(t *testing.T) {
		rr.t = t
		bh, err := f.HeadOf(branch)
		require.NoError(t, err)
		r := rr.run(base...)
		require.Equal(t, 0, r.Code, r.String())
		d := parseReview(t, r)
		require.Equal(t, "review-open", d.Outcome)
		require.Equal(t, first, d.PullRequest.Number)
		require.Nil(t, d.Commit, "nothing pushed")
		require.Contains(t, r.Stderr, fmt.Sprintf("pull request #%d is open with this plan", first))
		now, err := f.HeadOf(branch)
		require.NoError(t, err)
		require.Equal(t, bh, now)
		require.Len(t, giteaPulls(t, g, "open"), 1)
		requireNoReconcileRequest(t, f, prod)
	})

	step("closed without merging is exit 8", func(t *testing.T) {
		rr.t = t
		has, wait := rr.start(append(base, "--wait", "--timeout", "2m")...)
		eventually(t, "the run to wait for review", reviewStart, func() bool { return has("waiting for pull request") })
		require.NoError(t, g.API(context.Background(), http.MethodPatch, fmt.Sprintf("/repos/%s/%s/pulls/%d", g.User, fleet.GiteaRepo, first), map[string]any{"state": "closed"}, nil))
		r := wait()
		require.Equal(t, 8, r.Code, r.String())
		d := parseReview(t, r)
		require.Equal(t, "review-closed", d.Outcome)
		require.Equal(t, "closed", d.PullRequest.State)
		require.Contains(t, d.Error, fmt.Sprintf("pull request #%d was closed without merging", first))
		require.Equal(t, f.Initial, head(t, f))
		requireNoReconcileRequest(t, f, prod)
	})

	step("merged with a merge commit, --wait follows Flux to Ready", func(t *testing.T) {
		rr.t = t
		has, wait := rr.start(append(base, "--wait", "--timeout", "3m")...)
		eventually(t, "the run to wait for review", reviewStart, func() bool { return has("waiting for pull request") })
		open := giteaPulls(t, g, "open")
		require.Len(t, open, 1, "a new pull request on the same branch")
		require.Equal(t, branch, open[0].Head.Ref)
		require.NotEqual(t, first, open[0].Number)
		require.Contains(t, open[0].Body, "Promoted-From: staging/flux-system/apps", "the branch's commit gives the provenance")
		giteaMerge(t, g, open[0].Number, "merge")
		r := wait()
		require.Equal(t, 0, r.Code, r.String())
		d := parseReview(t, r)
		require.Equal(t, "promoted", d.Outcome)
		merge := head(t, f)
		require.Equal(t, merge, d.PullRequest.MergeCommit)
		require.Equal(t, "merged", d.PullRequest.State)
		parents, err := gitserver.Git(f.RepoDir(), "log", "-1", "--format=%P", merge)
		require.NoError(t, err)
		require.Len(t, strings.Fields(parents), 2, "a merge commit")
		require.NotNil(t, d.Reconcile)
		require.True(t, d.Reconcile.Ready)
		require.Equal(t, fleet.Revision(merge), d.Reconcile.AppliedRevision)
		requireDeployment(t, f, prod, "my-app", myApp11, true)
		requireDeployment(t, f, prod, "redis", redis725, true)

		h := rr.run("history", prod, "--kustomization", "apps", "-o", "json")
		require.Equal(t, 0, h.Code, h.String())
		require.Contains(t, h.Stdout, `"commit": "`+merge+`"`, "the merge counts as the promotion")
		require.Contains(t, h.Stdout, "my-app 1.0.0 → 1.1.0")
	})

	var squash string
	step("a squash merge keeps the provenance", func(t *testing.T) {
		rr.t = t
		src := stagingRuns(t, f, "1.1.0", "1.2.0")
		r := rr.run(base...)
		require.Equal(t, 0, r.Code, r.String())
		opened := parseReview(t, r)
		require.Equal(t, "promote/production/"+src[:12], opened.PullRequest.Branch)
		before, err := f.HeadOf(opened.PullRequest.Branch)
		require.NoError(t, err)

		// Staging moves on before anyone reviewed: the newer plan goes to the same
		// pull request, one more commit on its branch (no force push).
		stagingRuns(t, f, "1.2.0", "1.3.0")
		has, wait := rr.start(append(base, "--wait", "--timeout", "3m")...)
		eventually(t, "the run to wait for review", reviewStart, func() bool { return has("waiting for pull request") })
		require.True(t, has(fmt.Sprintf("updated pull request #%d with the newer plan", opened.PullRequest.Number)))
		open := giteaPulls(t, g, "open")
		require.Len(t, open, 1)
		require.Equal(t, opened.PullRequest.Number, open[0].Number)
		require.Equal(t, opened.PullRequest.Branch, open[0].Head.Ref)
		require.Equal(t, "promote(production): my-app 1.1.0 → 1.3.0 from staging", open[0].Title)
		require.Contains(t, open[0].Body, "| `"+seed.MyAppImage+"` | `1.1.0` | `1.3.0` | my-app |")
		require.Contains(t, open[0].Body, "Promoted-Image: "+seed.MyAppImage+":1.3.0 (from 1.1.0)")
		tip, err := f.HeadOf(opened.PullRequest.Branch)
		require.NoError(t, err)
		parent, err := gitserver.Git(f.RepoDir(), "log", "-1", "--format=%P", tip)
		require.NoError(t, err)
		require.Equal(t, before, parent, "the newer plan is a commit on top of the first")
		giteaMerge(t, g, open[0].Number, "squash")
		r = wait()
		require.Equal(t, 0, r.Code, r.String())
		d := parseReview(t, r)
		require.Equal(t, "promoted", d.Outcome)
		squash = head(t, f)
		require.Equal(t, squash, d.PullRequest.MergeCommit)
		parents, err := gitserver.Git(f.RepoDir(), "log", "-1", "--format=%P", squash)
		require.NoError(t, err)
		require.Len(t, strings.Fields(parents), 1, "a squash commit")
		require.Equal(t, fleet.Revision(squash), d.Reconcile.AppliedRevision)
		requireDeployment(t, f, prod, "my-app", seed.MyAppImage+":1.3.0", true)

		h := rr.run("history", prod, "--kustomization", "apps", "-o", "json")
		require.Equal(t, 0, h.Code, h.String())
		require.Contains(t, h.Stdout, `"commit": "`+squash+`"`)
		require.Contains(t, h.Stdout, "my-app 1.1.0 → 1.3.0")
	})

	step("rollback --review opens a revert pull request", func(t *testing.T) {
		rr.t = t
		r := rr.run("rollback", prod, "--kustomization", "apps", "--review", "--git-provider", "gitea", "--yes", "-o", "json")
		require.Equal(t, 0, r.Code, r.String())
		d := parseReview(t, r)
		require.Equal(t, "review-open", d.Outcome)
		require.Equal(t, "rollback/production/"+squash[:12], d.PullRequest.Branch)
		pr := giteaPull(t, g, d.PullRequest.Number)
		require.Equal(t, "open", pr.State)
		require.Equal(t, fleet.Branch, pr.Base.Ref)
		require.Contains(t, pr.Body, "Rolled-Back: "+squash)
		require.Contains(t, pr.Body, "+    newTag: \"1.1.0\"")
		require.Equal(t, squash, head(t, f), "the tracked branch is untouched")
		requireDeployment(t, f, prod, "my-app", seed.MyAppImage+":1.3.0", true)

		s := rr.run("status", "--kustomization", "apps", "--git-provider", "gitea", staging, prod)
		require.Contains(t, s.Stdout, fmt.Sprintf("production: pull request #%d open for review", d.PullRequest.Number), s.String())

		// Someone adds a commit of their own to the revert's branch: a re-run leaves
		// that branch to them and opens a new pull request.
		_, err := f.CommitTo(d.PullRequest.Branch, "reviewer: a note", func(dir string) error {
			return os.WriteFile(dir+"/NOTE.md", []byte("looked at it\n"), 0o644)
		})
		require.NoError(t, err)
		again := rr.run("rollback", prod, "--kustomization", "apps", "--review", "--git-provider", "gitea", "--yes", "-o", "json")
		require.Equal(t, 0, again.Code, again.String())
		a := parseReview(t, again)
		require.NotEqual(t, d.PullRequest.Number, a.PullRequest.Number)
		require.NotEqual(t, d.PullRequest.Branch, a.PullRequest.Branch)
		require.Contains(t, again.Stderr, "has commits not made by kubectl promote")
	})

	step("--rollback-on-failure opens a revert pull request", func(t *testing.T) {
		rr.t = t
		stagingRuns(t, f, "1.3.0", "1.4.0")
		has, wait := rr.start(append(base, "--wait", "--rollback-on-failure", "--timeout", "3m")...)
		eventually(t, "the run to wait for review", reviewStart, func() bool { return has("waiting for pull request") })
		open := giteaPulls(t, g, "open")
		var n int
		for _, pr := range open {
			if strings.HasPrefix(pr.Head.Ref, "promote/") {
				n = pr.Number
			}
		}
		require.NotZero(t, n, "the promotion's pull request")
		giteaMerge(t, g, n, "merge")
		r := wait()
		require.Equal(t, 4, r.Code, r.String())
		var d struct {
			reviewDoc
			Rollback *struct {
				PullRequest *struct {
					Number int    `json:"number"`
					Branch string `json:"branch"`
					State  string `json:"state"`
				} `json:"pullRequest"`
				Error string `json:"error"`
			} `json:"rollback"`
		}
		require.NoError(t, json.NewDecoder(strings.NewReader(r.Stdout)).Decode(&d), r.String())
		require.Equal(t, "unhealthy", d.Outcome)
		merge := head(t, f)
		require.Equal(t, merge, d.PullRequest.MergeCommit, "no revert pushed to the tracked branch")
		require.NotNil(t, d.Rollback, r.String())
		require.NotNil(t, d.Rollback.PullRequest, r.String())
		require.Equal(t, "rollback/production/"+merge[:12], d.Rollback.PullRequest.Branch)
		require.Equal(t, "open", d.Rollback.PullRequest.State)
		pr := giteaPull(t, g, d.Rollback.PullRequest.Number)
		require.Contains(t, pr.Body, "Rolled-Back: "+merge)
		require.Contains(t, pr.Body, "- `"+merge[:12]+"` promote(production): my-app 1.3.0 → 1.4.0 from staging")
		// The revert itself: production's overlay back at 1.3.0 on the revert's branch.
		out, err := gitserver.Git(f.RepoDir(), "show", "rollback/production/"+merge[:12]+":apps/production/kustomization.yaml")
		require.NoError(t, err)
		require.Contains(t, out, `newTag: "1.3.0"`)
	})

	step("the token appears in no output", func(t *testing.T) {
		require.NotEmpty(t, rr.output)
		for _, out := range rr.output {
			require.NotContains(t, out, g.Token)
		}
	})
}

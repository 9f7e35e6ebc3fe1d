package promote

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// fakeHost is a pull request host in memory over the test's bare repository: a
// reviewer merges a pull request the first time it is read (a fast-forward of its
// base to its head), and the journal says in which order things happened.
type fakeHost struct {
	bare    string
	mu      sync.Mutex
	prs     []*review.PullRequest
	journal []string
}

func (h *fakeHost) Name() string { return review.Gitea }

func (h *fakeHost) Open(_ context.Context, base, prefix string) ([]review.PullRequest, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []review.PullRequest
	for i := len(h.prs) - 1; i >= 0; i-- {
		if pr := h.prs[i]; pr.State == review.StateOpen && pr.Base == base && strings.HasPrefix(pr.Head, prefix) {
			out = append(out, *pr)
		}
	}
	return out, nil
}

func (h *fakeHost) Get(_ context.Context, n int) (*review.PullRequest, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pr := h.prs[n-1]
	if pr.State == review.StateOpen {
		head, err := gitserver.Git(h.bare, "rev-parse", "refs/heads/"+pr.Head)
		if err != nil {
			return nil, err
		}
		if _, err := gitserver.Git(h.bare, "update-ref", "refs/heads/"+pr.Base, head); err != nil {
			return nil, err
		}
		pr.State, pr.MergeCommit = review.StateMerged, head
		h.journal = append(h.journal, fmt.Sprintf("merge #%d", n))
	}
	cp := *pr
	return &cp, nil
}

func (h *fakeHost) Create(_ context.Context, n review.NewPullRequest) (*review.PullRequest, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pr := &review.PullRequest{Number: len(h.prs) + 1, URL: fmt.Sprintf("https://git.example.com/org/fleet/pulls/%d", len(h.prs)+1),
		Head: n.Head, Base: n.Base, Title: n.Title, Body: n.Body, State: review.StateOpen}
	h.prs = append(h.prs, pr)
	h.journal = append(h.journal, fmt.Sprintf("open #%d %s: %s", pr.Number, strings.SplitN(n.Head, "/", 3)[1], n.Title))
	cp := *pr
	return &cp, nil
}

func (h *fakeHost) Update(_ context.Context, n int, title, body string) (*review.PullRequest, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pr := h.prs[n-1]
	pr.Title, pr.Body = title, body
	cp := *pr
	return &cp, nil
}

// One target in review mode: the commit goes to a review branch, the pull request
// carries the plan, and with --wait its merge commit is announced and followed.
func TestReviewOneTargetWaitsForTheMerge(t *testing.T) {
	f := newFleet(t)
	f.flux(fakeflux.Controller{})
	host := &fakeHost{bare: f.bare}
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Wait, o.Review = true, &ReviewOptions{Host: host, Poll: 10e6}
	res, err := Run(context.Background(), f.clients, o)
	require.NoError(t, err, p.String())
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.NotNil(t, res.PullRequest)
	require.Equal(t, review.StateMerged, res.PullRequest.State)
	require.Equal(t, f.head(), res.PullRequest.MergeCommit)
	require.True(t, strings.HasPrefix(res.Commit.Branch, "promote/production/"), res.Commit.Branch)
	require.True(t, res.Reconcile.Ready)
	require.Equal(t, "main@sha1:"+f.head(), res.Reconcile.AppliedRevision)
	require.Contains(t, host.prs[0].Body, "### Images")
	require.Contains(t, host.prs[0].Body, "Promoted-To: production/flux-system/apps")
	require.Equal(t, []string{"open #1 production: promote(production): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging", "merge #1"}, host.journal)
}

// Without --wait the pull request is left open and nothing is announced; a re-run
// finds it open with the same plan.
func TestReviewWithoutWaitLeavesItOpen(t *testing.T) {
	f := newFleet(t)
	host := &fakeHost{bare: f.bare}
	o := f.options(&fakeflux.Progress{})
	o.Review = &ReviewOptions{Host: host}
	res, err := Run(context.Background(), f.clients, o)
	require.NoError(t, err)
	require.Equal(t, OutcomeReviewOpen, res.Outcome)
	require.Equal(t, f.seed, f.head(), "the tracked branch is untouched")
	src, tgt := f.annotations()
	require.Empty(t, src+tgt, "nothing announced")
	res, err = Run(context.Background(), f.clients, o)
	require.NoError(t, err)
	require.Equal(t, OutcomeReviewOpen, res.Outcome)
	require.Nil(t, res.Commit, "the branch has the plan already")
	require.Equal(t, 1, res.PullRequest.Number)
	require.Len(t, host.prs, 1)
}

// A fleet in review mode: one pull request per wave, wave 2's opened only after
// wave 1's was merged and its targets are Ready on the merge.
func TestReviewFleetOnePullRequestPerWave(t *testing.T) {
	f := newWavesFleet(t, nil, "")
	host := &fakeHost{bare: f.bare}
	o := f.options([]string{"prod-eu"}, []string{"prod-us-1", "prod-us-2"})
	o.Wait, o.Review = true, &ReviewOptions{Host: host, Poll: 10e6}
	res, err := RunWaves(context.Background(), f.clients, o)
	require.NoError(t, err, o.Progress.(*fakeflux.Progress).String())
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.Equal(t, []string{
		"open #1 prod-eu: promote(prod-eu): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging", "merge #1",
		"open #2 prod-us-1: promote(prod-us-1, prod-us-2): redis 7.2.4 → 7.2.5, my-app 1.0.0 → 1.1.0 from staging", "merge #2",
	}, host.journal)
	require.Equal(t, "main@sha1:"+host.prs[0].MergeCommit, res.Waves[0].Targets[0].Reconcile.AppliedRevision)
	for _, tg := range res.Waves[1].Targets {
		require.Equal(t, 2, tg.PullRequest.Number, tg.Name)
		require.True(t, tg.Reconcile.Ready, tg.Name)
	}
}

// In review mode, --rollback-on-failure proposes the revert in a pull request of its
// own instead of pushing it.
func TestReviewRollbackOnFailureProposesTheRevert(t *testing.T) {
	f := newFleet(t)
	f.flux(fakeflux.Controller{Fails: func(name, sha string) string {
		if name == "apps" && strings.HasPrefix(f.subject(sha), "promote(") {
			return "Deployment/production/my-app status: 'Failed'"
		}
		return ""
	}})
	host := &fakeHost{bare: f.bare}
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.Wait, o.RollbackOnFailure, o.Review = true, true, &ReviewOptions{Host: host, Poll: 10e6}
	res, err := Run(context.Background(), f.clients, o)
	require.Equal(t, ExitUnhealthy, ExitCode(err), "%v\n%s", err, p.String())
	require.NotNil(t, res.Rollback)
	require.NotNil(t, res.Rollback.PullRequest, p.String())
	require.Equal(t, 2, res.Rollback.PullRequest.Number)
	require.True(t, strings.HasPrefix(host.prs[1].Head, "rollback/production/"), host.prs[1].Head)
	require.Contains(t, host.prs[1].Title, "rollback(production): revert ")
}

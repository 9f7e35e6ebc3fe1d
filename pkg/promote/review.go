package promote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// Review mode (--review, pullRequestChannel) delivers a promotion or a rollback as a pull request instead
// of a push to the tracked branch: the strategy's commit goes to a branch of its own,
// promote/TARGET/SHORT-SHA (rollback/... for a revert), made from the tracked branch
// and pushed without force, and a pull request proposes it with the plan in its
// body. Nothing is announced to Flux until the pull request is merged; with --wait
// the run waits for that, then follows the merge commit like any push.
//
// A re-run finds the open pull request for the same target and pushes to its branch
// again: the strategy finds nothing to change when the branch already has the plan
// (outcome review-open, the same pull request), and adds a commit on top of it (a
// fast-forward, never a force) when the plan is newer, updating the description.

// ReviewOptions is --review.
type ReviewOptions struct {
	// Provider is --git-provider; empty detects it from the repository URL's host.
	Provider string
	// Token is the host's API token; empty means review.TokenFromEnv.
	Token string
	// Poll is how often --wait reads the pull request; 0 means DefaultReviewPoll.
	Poll time.Duration
	// Host, when set, is the pull request host to use instead of the one made from
	// the repository's URL, Provider and Token (a caller's own client; tests).
	Host review.Provider
}

// DefaultReviewPoll is how often --wait reads a pull request under review.
const DefaultReviewPoll = 2 * time.Second

// reviewProgressEvery is how often a wait for review says it is still waiting.
const reviewProgressEvery = 30 * time.Second

// reviewer is one run's pull requests on the target's host.
type reviewer struct {
	host     review.Provider
	base     string // the branch the target tracks
	prefix   string // promote/TARGET/ or rollback/TARGET/
	poll     time.Duration
	progress Progress
}

// newReviewer connects to the host of the target's repository; kind is "promote" or
// "rollback", the first element of the branches it pushes.
func newReviewer(w *Workspace, o *ReviewOptions, kind string, pr Progress) (*reviewer, error) {
	host := o.Host
	if host == nil {
		var err error
		if host, err = review.New(review.Options{RepoURL: w.Target.Source.Spec.URL, Provider: o.Provider, Token: o.Token}); err != nil {
			return nil, fmt.Errorf("--review: %w", err)
		}
	}
	poll := o.Poll
	if poll <= 0 {
		poll = DefaultReviewPoll
	}
	return &reviewer{host: host, base: w.TargetRef.Branch, prefix: review.BranchPrefix(kind, w.Target.Name), poll: poll, progress: pr}, nil
}

// branch is the branch to push to: the open pull request's whose branch starts with
// search (the most recently updated) when every commit on it is the tool's own for
// the target, or name. A branch someone else added commits to is left to them: the
// change goes to a new pull request. A promotion searches for any of the target's
// (a newer plan updates the open one); a revert for its own name only.
func (r *reviewer) branch(ctx context.Context, rp *repo.Repo, to, search, name string) (string, *review.PullRequest, error) {
	open, err := r.host.Open(ctx, r.base, search)
	if err != nil {
		return "", nil, err
	}
	if len(open) == 0 {
		return name, nil, nil
	}
	own, err := r.ownBranch(ctx, rp, open[0].Head, to)
	if err != nil || own {
		return open[0].Head, &open[0], err
	}
	r.progress.Failed("pull request #%d's branch %s has commits not made by kubectl promote for %s: opening a new pull request", open[0].Number, open[0].Head, to)
	if name == open[0].Head {
		name += "-" + time.Now().UTC().Format("20060102150405")
	}
	return name, nil, nil
}

// ownBranch says whether every commit branch has over the tracked branch is the
// tool's own for the environment to (its Promoted-To trailer names it).
func (r *reviewer) ownBranch(ctx context.Context, rp *repo.Repo, branch, to string) (bool, error) {
	base, err := rp.BranchHead(ctx, r.base)
	if err != nil {
		return false, err
	}
	tip, err := rp.BranchHead(ctx, branch)
	if errors.Is(err, repo.ErrNotFound) {
		return true, nil // the pull request's branch is gone: it will be made anew
	}
	if err != nil {
		return false, err
	}
	commits, _, err := rp.Range(ctx, base, tip, 0)
	if err != nil {
		return false, err
	}
	for _, c := range commits {
		if !slices.Contains(repo.TrailerValues(c.Trailers, history.TrailerTo), to) {
			return false, nil
		}
	}
	return true, nil
}

// propose opens the pull request of branch, or brings the open one's title and body
// up to date.
func (r *reviewer) propose(ctx context.Context, branch string, open *review.PullRequest, title, body string) (*review.PullRequest, error) {
	if open == nil {
		pr, err := r.host.Create(ctx, review.NewPullRequest{Head: branch, Base: r.base, Title: title, Body: body})
		if err == nil {
			r.progress.Done("opened pull request #%d: %s", pr.Number, pr.URL)
		}
		return pr, err
	}
	if open.Title == title && open.Body == body {
		r.progress.Done("pull request #%d is open with this plan: %s", open.Number, open.URL)
		return open, nil
	}
	pr, err := r.host.Update(ctx, open.Number, title, body)
	if err == nil {
		r.progress.Done("updated pull request #%d with the newer plan: %s", pr.Number, pr.URL)
	}
	return pr, err
}

// await reads the pull request until it is merged or closed, saying now and then that
// it is still waiting; ctx (--timeout) bounds it. A host that does not answer is
// asked again until ctx ends.
func (r *reviewer) await(ctx context.Context, pr *review.PullRequest) (*review.PullRequest, error) {
	start, said := time.Now(), time.Now()
	r.progress.Waiting("waiting for pull request #%d to be merged: %s", pr.Number, pr.URL)
	t := time.NewTicker(r.poll)
	defer t.Stop()
	var lastErr error
	for {
		cur, err := r.host.Get(ctx, pr.Number)
		switch {
		case err == nil && cur.State != review.StateOpen:
			return cur, nil
		case err != nil && !errors.Is(err, ctx.Err()):
			lastErr = err
		}
		if time.Since(said) >= reviewProgressEvery {
			said = time.Now()
			r.progress.Waiting("still waiting for pull request #%d to be merged (%s so far)", pr.Number, time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return nil, &ReviewPendingError{PR: pr, Err: ctx.Err(), Last: lastErr}
		case <-t.C:
		}
	}
}

// awaitMerge waits for pr (see await) and, once it is merged, fetches the merge
// commit into rp; a pull request closed without merging is a *ReviewClosedError.
// It returns the pull request as last read, nil when it could not be read.
func (r *reviewer) awaitMerge(ctx context.Context, rp *repo.Repo, pr *review.PullRequest) (*review.PullRequest, error) {
	pr, err := r.await(ctx, pr)
	if err != nil {
		return nil, err
	}
	if pr.State != review.StateMerged {
		return pr, &ReviewClosedError{PR: pr}
	}
	r.progress.Done("pull request #%d merged as %s", pr.Number, repo.ShortSHA(pr.MergeCommit))
	return pr, rp.Fetch(ctx)
}

// pullRequestDoc is the JSON pullRequest of a pull request.
func (r *reviewer) pullRequestDoc(pr *review.PullRequest) *v1alpha1.PullRequest {
	return &v1alpha1.PullRequest{Provider: r.host.Name(), URL: pr.URL, Number: pr.Number, Branch: pr.Head, State: pr.State, MergeCommit: pr.MergeCommit}
}

func shortOr(sha, branch string) string {
	if sha == "" {
		return "the change"
	}
	return repo.ShortSHA(sha)
}

// againstBase is a review commit's trailers with its Promoted-Image ones (what the
// commit changes from its parent) replaced by the plan's against the tracked branch.
func againstBase(trailers []repo.Trailer, pl *plan.Plan) []repo.Trailer {
	var out []repo.Trailer
	done := false
	for _, t := range trailers {
		if t.Key != history.TrailerImage {
			out = append(out, t)
			continue
		}
		if !done {
			for _, ch := range pl.Changes {
				out = append(out, repo.Trailer{Key: history.TrailerImage, Value: history.FormatImage(ch.To.String(), ch.From.Version())})
			}
			done = true
		}
	}
	return out
}

// ReviewClosedError is a pull request closed without merging while --wait waited for
// it (exit code 8): nothing reached the target.
type ReviewClosedError struct{ PR *review.PullRequest }

func (e *ReviewClosedError) Error() string {
	return fmt.Sprintf("pull request #%d was closed without merging: nothing was promoted (%s)", e.PR.Number, e.PR.URL)
}

// ReviewPendingError is a wait for review that ended (--timeout, or a signal) with
// the pull request still open: nothing reached the target; the pull request stays.
type ReviewPendingError struct {
	PR   *review.PullRequest
	Err  error
	Last error // the host's last error while waiting, if any
}

func (e *ReviewPendingError) Error() string {
	msg := fmt.Sprintf("pull request #%d is still open (%v): nothing was promoted yet; it promotes when merged (%s)", e.PR.Number, e.Err, e.PR.URL)
	if e.Last != nil {
		msg += "; the host's last answer: " + e.Last.Error()
	}
	return msg
}

func (e *ReviewPendingError) Unwrap() error { return e.Err }

// revert pushes a revert of entries to the review branch (the open revert pull
// request's, or a new one from the tracked branch) and opens or updates its pull
// request, the body made by body from the commit's trailers.
func (r *reviewer) revert(ctx context.Context, rp *repo.Repo, to string, entries []v1alpha1.HistoryEntry, subject string, trailers []repo.Trailer, author repo.Signature,
	attempts int, body func([]repo.Trailer) string) (*repo.PushResult, *repo.CommitSpec, *review.PullRequest, error) {
	name := r.prefix + repo.ShortSHA(entries[0].Commit)
	branch, open, err := r.branch(ctx, rp, to, name, name)
	if err != nil {
		return nil, nil, nil, err
	}
	r.progress.Doing("reverting %d promotion(s) on review branch %s (from %s)", len(entries), branch, r.base)
	pushed, spec, err := revert(ctx, rp, branch, r.base, entries, subject, trailers, author, attempts)
	if err != nil {
		return nil, nil, nil, err
	}
	if pushed.NoOp {
		r.progress.Done("branch %s already has this revert", branch)
	} else {
		r.progress.Done("pushed %s to branch %s (%s)", repo.ShortSHA(pushed.Commit), branch, subject)
	}
	title, text := subject, body(trailers)
	if open != nil && pushed.NoOp {
		title, text = open.Title, open.Body
	}
	pr, err := r.propose(ctx, branch, open, title, text)
	if err != nil {
		return pushed, spec, nil, fmt.Errorf("the revert is on branch %s, but its pull request was not opened: %w; run this rollback again", branch, err)
	}
	return pushed, spec, pr, nil
}

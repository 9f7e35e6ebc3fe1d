package promote

import (
	"context"
	"fmt"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/history"
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
	// Poll is how often --wait reads the pull request; 0 means review.DefaultPoll.
	Poll time.Duration
	// Host, when set, is the pull request host to use instead of the one made from
	// the repository's URL, Provider and Token (a caller's own client; tests).
	Host review.Provider
}

// newReviewer connects to the host of the target's repository; kind is "promote" or
// "rollback", the first element of the branches it pushes.
func newReviewer(w *Workspace, o *ReviewOptions, kind string, pr Progress) (*review.Session, error) {
	host := o.Host
	if host == nil {
		var err error
		if host, err = review.New(review.Options{RepoURL: w.Target.Source.Spec.URL, Provider: o.Provider, Token: o.Token}); err != nil {
			return nil, fmt.Errorf("--review: %w", err)
		}
	}
	return &review.Session{Host: host, Base: w.TargetRef.Branch, Prefix: review.BranchPrefix(kind, w.Target.Name), Poll: o.Poll, Progress: pr}, nil
}

// proposeRevert pushes the revert u describes to the review branch (the open
// revert pull request's, or a new one from the tracked branch) and opens or updates
// its pull request, which shows the commit's trailers.
func proposeRevert(ctx context.Context, r *review.Session, w *Workspace, u *undo) (*repo.PushResult, *repo.CommitSpec, *review.PullRequest, error) {
	name := r.Prefix + repo.ShortSHA(u.entries[0].Commit)
	branch, open, err := r.Branch(ctx, w.Repo, w.Target.Ref.String(), name, name)
	if err != nil {
		return nil, nil, nil, err
	}
	r.Progress.Doing("reverting %d promotion(s) on review branch %s (from %s)", len(u.entries), branch, r.Base)
	subject, trailers := u.subject(), u.trailers()
	pushed, spec, err := history.Revert(ctx, w.Repo, branch, r.Base, u.entries, subject, trailers, u.author, u.attempts)
	if err != nil {
		return nil, nil, nil, err
	}
	if pushed.NoOp {
		r.Progress.Done("branch %s already has this revert", branch)
	} else {
		r.Progress.Done("pushed %s to branch %s (%s)", repo.ShortSHA(pushed.Commit), branch, subject)
	}
	title, text := subject, review.RevertBody(u.names, u.branch, u.entries, u.files, u.reason, trailers)
	if open != nil && pushed.NoOp {
		title, text = open.Title, open.Body
	}
	pr, err := r.Propose(ctx, branch, open, title, text)
	if err != nil {
		return pushed, spec, nil, fmt.Errorf("the revert is on branch %s, but its pull request was not opened: %w; run this rollback again", branch, err)
	}
	return pushed, spec, pr, nil
}

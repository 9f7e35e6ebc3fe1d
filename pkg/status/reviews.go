package status

import (
	"context"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// reviewTimeout bounds the question to the Git host: status must not hang on it.
const reviewTimeout = 10 * time.Second

// openReviews lists review mode's open pull requests into branch for the environment
// name (promote/NAME/... and rollback/NAME/...), newest first. It is best effort:
// without a token, on a host it cannot tell, or when the host does not answer,
// there is nothing to show and status goes on.
func openReviews(ctx context.Context, url, branch, name, provider string) []v1alpha1.PullRequest {
	host, err := review.New(review.Options{RepoURL: url, Provider: provider})
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	var out []v1alpha1.PullRequest
	for _, kind := range []string{review.KindPromote, review.KindRollback} {
		prs, err := host.Open(ctx, branch, review.BranchPrefix(kind, name))
		if err != nil {
			return nil
		}
		for _, pr := range prs {
			out = append(out, v1alpha1.PullRequest{Provider: host.Name(), URL: pr.URL, Number: pr.Number, Branch: pr.Head, State: pr.State})
		}
	}
	return out
}

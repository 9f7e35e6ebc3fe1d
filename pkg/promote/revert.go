package promote

import (
	"context"

	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// revert reverts commits (newest first) on branch as one new commit and pushes it,
// retrying on a race like a promotion. A revert that conflicts pushes nothing.
func revert(ctx context.Context, r *repo.Repo, branch string, shas []string, subject string, trailers []repo.Trailer, author repo.Signature, attempts int) (*repo.PushResult, *repo.CommitSpec, error) {
	var spec *repo.CommitSpec
	pushed, err := r.CommitAndPush(ctx, branch, func(ctx context.Context, head, dir string) (*repo.CommitSpec, error) {
		for _, sha := range shas {
			if _, err := r.RevertInto(ctx, sha, dir); err != nil {
				return nil, err
			}
		}
		spec = &repo.CommitSpec{Message: subject, Trailers: trailers, Author: author}
		return spec, nil
	}, repo.PushOptions{MaxAttempts: attempts})
	return pushed, spec, err
}

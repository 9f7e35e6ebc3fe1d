package promote

import (
	"context"
	"slices"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// revert reverts promotions (newest first) on branch as one new commit and pushes
// it, retrying on a race like a promotion. A revert that conflicts pushes nothing.
// base, in review mode, is the tracked branch a new review branch starts from.
func revert(ctx context.Context, r *repo.Repo, branch, base string, entries []v1alpha1.HistoryEntry, subject string, trailers []repo.Trailer, author repo.Signature, attempts int) (*repo.PushResult, *repo.CommitSpec, error) {
	var spec *repo.CommitSpec
	pushed, err := r.CommitAndPush(ctx, branch, func(ctx context.Context, head, dir string) (*repo.CommitSpec, error) {
		if _, err := revertInto(ctx, r, entries, dir); err != nil {
			return nil, err
		}
		spec = &repo.CommitSpec{Message: subject, Trailers: trailers, Author: author}
		return spec, nil
	}, repo.PushOptions{MaxAttempts: attempts, Base: base})
	return pushed, spec, err
}

// revertInto reverts the promotions in dir, newest first, and returns the files
// changed, sorted: each promotion's commit against its first parent (an image edit,
// or a merge), or for a fast-forward the range it moved the branch over.
func revertInto(ctx context.Context, r *repo.Repo, entries []v1alpha1.HistoryEntry, dir string) ([]string, error) {
	var all []string
	for _, e := range entries {
		var files []string
		var err error
		if e.Base != "" {
			files, err = r.RevertRangeInto(ctx, e.Base, e.Commit, dir)
		} else {
			files, err = r.RevertInto(ctx, e.Commit, dir)
		}
		if err != nil {
			return nil, err
		}
		all = append(all, files...)
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}

package history

import (
	"context"
	"fmt"
	"slices"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// What a revert of promotions writes, beside what reads it back (history.go: Read
// sees Rolled-Back, ToRevert and CurrentRollbacks choose what to revert): its
// subject, its trailers, and the revert itself, in a checkout or pushed.

// RevertSubject is the revert commit's subject: why, for an automatic undo (why
// set); what it reverts, for a rollback asked for. names are the environments.
func RevertSubject(names, why string, e []v1alpha1.HistoryEntry) string {
	switch {
	case why != "":
		return fmt.Sprintf("rollback(%s): revert %s, %s", names, repo.ShortSHA(e[0].Commit), why)
	case len(e) == 1:
		return fmt.Sprintf("rollback(%s): revert %s (%s)", names, repo.ShortSHA(e[0].Commit), e[0].Subject)
	}
	return fmt.Sprintf("rollback(%s): revert %d promotions, back to before %s", names, len(e), repo.ShortSHA(e[len(e)-1].Commit))
}

// RevertTrailers are Rolled-Back (and Rollback-Range) per promotion, Promoted-To
// per target, Promoted-By, the reason and Promote-Gates (a rollback forced past a
// window), if any.
func RevertTrailers(entries []v1alpha1.HistoryEntry, to []string, by, reason, gates string) []repo.Trailer {
	var t []repo.Trailer
	for _, e := range entries {
		t = append(t, repo.Trailer{Key: TrailerRolledBack, Value: e.Commit})
		if e.Base != "" {
			t = append(t, repo.Trailer{Key: TrailerRange, Value: e.Base + ".." + e.Commit})
		}
	}
	for _, to := range to {
		t = append(t, repo.Trailer{Key: TrailerTo, Value: to})
	}
	t = append(t, repo.Trailer{Key: TrailerBy, Value: by})
	if reason != "" {
		t = append(t, repo.Trailer{Key: TrailerReason, Value: reason})
	}
	if gates != "" {
		t = append(t, repo.Trailer{Key: TrailerGates, Value: gates})
	}
	return t
}

// Revert reverts promotions (newest first) on branch as one new commit and pushes
// it, retrying on a race like a promotion. A revert that conflicts pushes nothing.
// base, in review mode, is the tracked branch a new review branch starts from.
func Revert(ctx context.Context, r *repo.Repo, branch, base string, entries []v1alpha1.HistoryEntry, subject string, trailers []repo.Trailer, author repo.Signature, attempts int) (*repo.PushResult, *repo.CommitSpec, error) {
	var spec *repo.CommitSpec
	pushed, err := r.CommitAndPush(ctx, branch, func(ctx context.Context, head, dir string) (*repo.CommitSpec, error) {
		if _, err := RevertInto(ctx, r, entries, dir); err != nil {
			return nil, err
		}
		spec = &repo.CommitSpec{Message: subject, Trailers: trailers, Author: author}
		return spec, nil
	}, repo.PushOptions{MaxAttempts: attempts, Base: base})
	return pushed, spec, err
}

// RevertInto reverts the promotions in dir, newest first, and returns the files
// changed, sorted: each promotion's commit against its first parent (an image edit,
// or a merge), or for a fast-forward the range it moved the branch over.
func RevertInto(ctx context.Context, r *repo.Repo, entries []v1alpha1.HistoryEntry, dir string) ([]string, error) {
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

package repo

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

// A host's merge commit of a review branch counts, in Log, as the promotion it
// merged: its second parent's subject and trailers. A merge of a branch without
// trailers stays as it is.
func TestLogMergedPullRequest(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	pushed, err := r.CommitAndPush(t.Context(), "promote/production/abc", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		return &CommitSpec{Message: "promote(production): my-app 1.1.0 from staging",
			Trailers: []Trailer{{"Promoted-From", "staging"}, {"Promoted-To", "production"}}, Author: testAuthor}, nil
	}, PushOptions{Base: "main"})
	require.NoError(t, err)
	require.Equal(t, f.seed, pushed.Parent, "made from the base branch")

	// A reviewer merges it on the host (a merge commit without trailers), then a
	// feature branch without trailers is merged too.
	dir := f.clone(t)
	git := func(args ...string) string {
		out, err := gitserver.Git(dir, args...)
		require.NoError(t, err)
		return out
	}
	git("-c", "user.name=r", "-c", "user.email=r@example.invalid", "merge", "--no-ff", "-m", "Merge pull request 'promote(production): my-app 1.1.0 from staging' (#1)", "origin/promote/production/abc")
	merge := git("rev-parse", "HEAD")
	git("checkout", "--quiet", "-b", "feature", f.seed)
	git("-c", "user.name=r", "-c", "user.email=r@example.invalid", "commit", "--quiet", "--allow-empty", "-m", "feature")
	git("checkout", "--quiet", "main")
	git("-c", "user.name=r", "-c", "user.email=r@example.invalid", "merge", "--no-ff", "-m", "Merge branch 'feature'", "feature")
	plain := git("rev-parse", "HEAD")
	git("push", "--quiet", "origin", "main")
	require.NoError(t, r.Fetch(t.Context()))

	all, err := r.Log(t.Context(), "main", LogOptions{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Equal(t, plain, all[0].SHA)
	require.Equal(t, "Merge branch 'feature'", all[0].Subject)
	require.Empty(t, all[0].Trailers)
	require.Equal(t, merge, all[1].SHA, "the merge, not the branch's commit, is on the first-parent line")
	require.Equal(t, "promote(production): my-app 1.1.0 from staging", all[1].Subject)
	require.Equal(t, []Trailer{{"Promoted-From", "staging"}, {"Promoted-To", "production"}}, all[1].Trailers)
	require.Equal(t, f.seed, all[1].Parent)
}

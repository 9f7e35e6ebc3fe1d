package repo

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

var tester = Signature{Name: "Tester", Email: "tester@example.com"}

// branches makes branch "production" at the seed commit and returns the fixture and
// an open repository after more commits are pushed by push.
func branchFixture(t *testing.T, push func(f *fixture)) (*fixture, *Repo) {
	t.Helper()
	f := newFixture(t, gitserver.Options{})
	f.git(t, "branch", "production", f.seed)
	if push != nil {
		push(f)
	}
	return f, f.open(t, Options{})
}

func TestMergeTreeClean(t *testing.T) {
	var staging, prod string
	f, r := branchFixture(t, func(f *fixture) {
		staging = f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "staging: my-app 1.2.0")
		prod = f.pushFile(t, "production", "README.md", "production only\n", "production: readme")
	})
	ctx := context.Background()
	m, err := r.MergeTree(ctx, prod, staging, MergeOptions{})
	require.NoError(t, err)
	assert.False(t, m.UpToDate)
	assert.False(t, m.FastForward)
	assert.Equal(t, f.seed, m.Base)
	assert.Equal(t, []string{stagingFile}, m.Files)

	sha, err := r.CommitMerge(ctx, m, CommitSpec{Message: "promote(production): merge", Trailers: []Trailer{{Key: "Promoted-From", Value: "staging"}}, Author: tester})
	require.NoError(t, err)
	res, err := r.Land(ctx, "production", func(ctx context.Context, head string) (*Made, error) {
		require.Equal(t, prod, head)
		return &Made{Commit: sha, Files: m.Files}, nil
	}, PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, sha, res.Commit)
	// Git itself sees a merge with both parents, in order, and both sides' files.
	assert.Equal(t, prod+" "+staging, f.git(t, "show", "-s", "--format=%P", "production"))
	assert.Equal(t, stagingYAML("1.2.0"), f.git(t, "show", "production:"+stagingFile)+"\n")
	assert.Equal(t, "production only", f.git(t, "show", "production:README.md"))
	assert.Contains(t, f.git(t, "show", "-s", "--format=%(trailers)", "production"), "Promoted-From: staging")
}

func TestMergeTreeFastForwardPossibleStillMerges(t *testing.T) {
	var staging string
	f, r := branchFixture(t, func(f *fixture) {
		staging = f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "staging: my-app 1.2.0")
	})
	ctx := context.Background()
	m, err := r.MergeTree(ctx, f.seed, staging, MergeOptions{})
	require.NoError(t, err)
	assert.True(t, m.FastForward)
	sha, err := r.CommitMerge(ctx, m, CommitSpec{Message: "merge", Author: tester})
	require.NoError(t, err)
	_, err = r.Land(ctx, "production", func(ctx context.Context, head string) (*Made, error) { return &Made{Commit: sha}, nil }, PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, f.seed+" "+staging, f.git(t, "show", "-s", "--format=%P", "production"))
	// The merge's tree is the source's: nothing else changed.
	assert.Equal(t, f.git(t, "rev-parse", staging+"^{tree}"), f.git(t, "rev-parse", "production^{tree}"))

	// Merging again is up to date.
	require.NoError(t, r.Fetch(ctx))
	m, err = r.MergeTree(ctx, sha, staging, MergeOptions{})
	require.NoError(t, err)
	assert.True(t, m.UpToDate)
}

func TestMergeTreeConflictNamesPaths(t *testing.T) {
	var staging, prod string
	_, r := branchFixture(t, func(f *fixture) {
		f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "staging: my-app 1.2.0")
		staging = f.pushFile(t, "main", "README.md", "from staging\n", "staging readme")
		f.pushFile(t, "production", stagingFile, stagingYAML("1.1.1-hotfix"), "production hotfix")
		prod = f.pushFile(t, "production", "README.md", "from production\n", "production readme")
	})
	_, err := r.MergeTree(context.Background(), prod, staging, MergeOptions{})
	var ce *MergeConflictError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, ErrConflict)
	assert.Equal(t, []string{"README.md", stagingFile}, ce.Files)
	assert.Contains(t, err.Error(), "README.md, "+stagingFile)
}

func TestMergeTreeLineMerge(t *testing.T) {
	base := "a\nb\nc\nd\ne\nf\ng\n"
	var staging, prod string
	f, r := branchFixture(t, func(f *fixture) {
		f.pushFile(t, "main", "list.txt", base, "list")
		f.git(t, "branch", "-f", "production", "main")
		staging = f.pushFile(t, "main", "list.txt", strings.Replace(base, "b\n", "B\n", 1), "staging B")
		prod = f.pushFile(t, "production", "list.txt", strings.Replace(base, "f\n", "F\n", 1), "production F")
	})
	ctx := context.Background()
	m, err := r.MergeTree(ctx, prod, staging, MergeOptions{})
	require.NoError(t, err)
	dir := t.TempDir() + "/out"
	require.NoError(t, r.CheckoutMerge(ctx, m, dir))
	assert.Equal(t, "a\nB\nc\nd\ne\nF\ng\n", readFile(t, dir+"/list.txt"))
	_ = f
}

func TestFastForwardWithNoteAndRangeRevert(t *testing.T) {
	var s1, s2 string
	f, r := branchFixture(t, func(f *fixture) {
		s1 = f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "staging 1.2.0")
		s2 = f.pushFile(t, "main", "README.md", "more\n", "staging readme")
	})
	ctx := context.Background()
	commits, n, err := r.Range(ctx, f.seed, s2, 0)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []string{s2, s1}, []string{commits[0].SHA, commits[1].SHA})

	res, err := r.Land(ctx, "production", func(ctx context.Context, head string) (*Made, error) {
		note, err := r.AddNote(ctx, s2, "promote(production): fast-forward\n\nPromoted-Base: "+head+"\n", tester)
		if err != nil {
			return nil, err
		}
		return &Made{Commit: s2, Also: []RefUpdate{note}}, nil
	}, PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, s2, res.Commit)
	assert.Equal(t, s2, f.git(t, "rev-parse", "production"))
	// Git reads the note.
	assert.Contains(t, f.git(t, "notes", "--ref=kubectl-promote", "show", s2), "Promoted-Base: "+f.seed)
	require.NoError(t, r.Fetch(ctx))
	notes, err := r.Notes(ctx)
	require.NoError(t, err)
	assert.Contains(t, notes[s2], "Promoted-Base: "+f.seed)

	// One revert commit of the whole range restores the seed's files.
	_, err = r.CommitAndPush(ctx, "production", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		files, err := r.RevertRangeInto(ctx, f.seed, s2, dir)
		require.Equal(t, []string{"README.md", stagingFile}, files)
		return &CommitSpec{Message: "rollback", Author: tester}, err
	}, PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, f.git(t, "rev-parse", f.seed+"^{tree}"), f.git(t, "rev-parse", "production^{tree}"))
}

func TestMergeUnrevertBringsBackRolledBackChange(t *testing.T) {
	var s1, s2, rollback string
	f, r := branchFixture(t, nil)
	ctx := context.Background()
	s1 = f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "staging 1.2.0")
	require.NoError(t, r.Fetch(ctx))
	m, err := r.MergeTree(ctx, f.seed, s1, MergeOptions{})
	require.NoError(t, err)
	merge, err := r.CommitMerge(ctx, m, CommitSpec{Message: "merge", Author: tester})
	require.NoError(t, err)
	_, err = r.Land(ctx, "production", func(ctx context.Context, head string) (*Made, error) { return &Made{Commit: merge}, nil }, PushOptions{})
	require.NoError(t, err)
	res, err := r.CommitAndPush(ctx, "production", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		_, err := r.RevertInto(ctx, merge, dir)
		return &CommitSpec{Message: "rollback", Author: tester}, err
	}, PushOptions{})
	require.NoError(t, err)
	rollback = res.Commit
	s2 = f.pushFile(t, "main", stagingFile, stagingYAML("1.3.0"), "staging 1.3.0")
	require.NoError(t, r.Fetch(ctx))
	// Without undoing the rollback, both sides changed the line since s1.
	_, err = r.MergeTree(ctx, rollback, s2, MergeOptions{})
	require.ErrorIs(t, err, ErrConflict)
	m, err = r.MergeTree(ctx, rollback, s2, MergeOptions{Unrevert: []string{rollback}})
	require.NoError(t, err)
	dir := t.TempDir() + "/out"
	require.NoError(t, r.CheckoutMerge(ctx, m, dir))
	assert.Equal(t, stagingYAML("1.3.0"), readFile(t, dir+"/"+stagingFile))
}

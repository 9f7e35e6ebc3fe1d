package repo

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

// A commit and an annotated tag land in one atomic push; a tag name someone else
// pushed first is a race the MakeFunc sees again with the new tags, and the
// existing tag is never moved.
func TestLandWithTagAndTagRace(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.git(t, "tag", "v1.0.0", f.seed)
	r := f.open(t, Options{})
	ctx := context.Background()
	tags, err := r.Tags(ctx)
	require.NoError(t, err)
	require.Equal(t, []Tag{{Name: "v1.0.0", Commit: f.seed, When: tags[0].When}}, tags)

	var seen [][]string
	raced := false
	res, err := r.Land(ctx, "main", func(ctx context.Context, head string) (*Made, error) {
		tags, err := r.Tags(ctx)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, t := range tags {
			names = append(names, t.Name)
		}
		seen = append(seen, names)
		sha, files, err := r.CommitOn(ctx, head, func(ctx context.Context, head, dir string) (*CommitSpec, error) {
			writeFile(t, dir, stagingFile, stagingYAML("1.3.0"))
			return &CommitSpec{Message: "promote", Author: tester}, nil
		})
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("v1.0.%d", len(tags))
		if !raced {
			// Another promotion takes the name first.
			raced = true
			f.git(t, "tag", name, f.seed)
		}
		tag, err := r.CreateTag(ctx, name, sha, "release "+name, tester)
		return &Made{Commit: sha, Files: files, Also: []RefUpdate{tag}}, err
	}, PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Attempts)
	assert.Equal(t, [][]string{{"v1.0.0"}, {"v1.0.0", "v1.0.1"}}, seen)
	assert.Equal(t, f.seed, f.git(t, "rev-parse", "v1.0.1^{commit}"), "the tag pushed first is not moved")
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "v1.0.2^{commit}"))
	assert.Equal(t, "tag", f.git(t, "cat-file", "-t", "v1.0.2"), "annotated")
	assert.Contains(t, f.git(t, "cat-file", "-p", "v1.0.2"), "release v1.0.2")
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "main"))
}

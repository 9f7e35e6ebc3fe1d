package repo

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

func TestLog(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	promote := func(tag string) *PushResult {
		res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
			writeFile(t, dir, productionFile, stagingYAML(tag))
			return &CommitSpec{
				Message:  "promote(production): my-app " + tag + " from staging",
				Trailers: []Trailer{{"Promoted-From", "staging"}, {"Promoted-Image", "ghcr.io/example/my-app:" + tag}, {"Promoted-Image", "ghcr.io/example/side:" + tag}},
				Author:   testAuthor,
			}, nil
		}, PushOptions{})
		require.NoError(t, err)
		return res
	}
	p1 := promote("1.1.0")
	other := f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "staging: 1.2.0")
	require.NoError(t, r.Fetch(t.Context()))
	p2 := promote("1.2.0")

	all, err := r.Log(t.Context(), "main", LogOptions{})
	require.NoError(t, err)
	var shas []string
	for _, c := range all {
		shas = append(shas, c.SHA)
	}
	assert.Equal(t, []string{p2.Commit, other, p1.Commit, f.seed}, shas)
	assert.Equal(t, "", all[3].Parent)
	assert.Contains(t, all[3].Files, "scripts/check.sh", "root commit lists its files")

	prod, err := r.Log(t.Context(), "main", LogOptions{Path: "clusters/production"})
	require.NoError(t, err)
	require.Len(t, prod, 3)
	assert.Equal(t, p2.Commit, prod[0].SHA)
	assert.Equal(t, other, prod[0].Parent)
	// A Kustomization's spec.path, as Flux users write it, selects the same commits.
	fluxPath, err := r.Log(t.Context(), "main", LogOptions{Path: "./clusters/production/"})
	require.NoError(t, err)
	assert.Equal(t, prod, fluxPath)
	assert.Equal(t, "promote(production): my-app 1.2.0 from staging", prod[0].Subject)
	assert.Equal(t, []string{"ghcr.io/example/my-app:1.2.0", "ghcr.io/example/side:1.2.0"}, TrailerValues(prod[0].Trailers, "Promoted-Image"))
	assert.Equal(t, testAuthor, prod[0].Author)
	assert.Equal(t, []string{productionFile}, prod[0].Files)
	assert.WithinDuration(t, time.Now(), prod[0].When, time.Hour)
	assert.Equal(t, p1.Commit, prod[1].SHA)
	assert.Equal(t, f.seed, prod[2].SHA)

	// A single file works as a path too, and Limit counts matching commits.
	limited, err := r.Log(t.Context(), "main", LogOptions{Path: productionFile, Limit: 1})
	require.NoError(t, err)
	require.Len(t, limited, 1)
	assert.Equal(t, p2.Commit, limited[0].SHA)

	// Since a commit (Flux revision form) excludes it and everything older.
	since, err := r.Log(t.Context(), "main", LogOptions{Path: "clusters/production", Since: "main@sha1:" + p1.Commit})
	require.NoError(t, err)
	require.Len(t, since, 1)
	assert.Equal(t, p2.Commit, since[0].SHA)

	recent, err := r.Log(t.Context(), "main", LogOptions{Since: "1h"})
	require.NoError(t, err)
	assert.Len(t, recent, 4)
	none, err := r.Log(t.Context(), "main", LogOptions{Since: time.Now().Add(time.Hour).Format(time.RFC3339)})
	require.NoError(t, err)
	assert.Empty(t, none)
	_, err = r.Log(t.Context(), "main", LogOptions{Since: "yesterday"})
	assert.ErrorContains(t, err, "invalid --since")

	nothing, err := r.Log(t.Context(), "main", LogOptions{Path: "does/not/exist"})
	require.NoError(t, err)
	assert.Empty(t, nothing)
}

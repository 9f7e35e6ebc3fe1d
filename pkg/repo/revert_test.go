package repo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

func TestMerge3(t *testing.T) {
	lines := func(s ...string) []byte {
		if len(s) == 0 {
			return nil
		}
		return []byte(strings.Join(s, "\n") + "\n")
	}
	base := lines("a", "b", "c", "d", "e", "f")
	tests := []struct {
		name         string
		ours, theirs []byte
		want         []byte // nil: conflict
	}{
		{"only theirs", base, lines("a", "B", "c", "d", "e", "f"), lines("a", "B", "c", "d", "e", "f")},
		{"only ours", lines("a", "b", "c", "d", "E", "f"), base, lines("a", "b", "c", "d", "E", "f")},
		{"apart", lines("a", "b", "c", "d", "E", "f"), lines("A", "b", "c", "d", "e", "f"), lines("A", "b", "c", "d", "E", "f")},
		{"same change", lines("a", "X", "c", "d", "e", "f"), lines("a", "X", "c", "d", "e", "f"), lines("a", "X", "c", "d", "e", "f")},
		{"same line", lines("a", "X", "c", "d", "e", "f"), lines("a", "Y", "c", "d", "e", "f"), nil},
		{"adjoining", lines("a", "X", "c", "d", "e", "f"), lines("a", "b", "Y", "d", "e", "f"), nil},
		{"insert apart", lines("a", "b", "c", "d", "e", "f", "g"), lines("0", "a", "b", "c", "d", "e", "f"), lines("0", "a", "b", "c", "d", "e", "f", "g")},
		{"delete vs edit", lines("a", "c", "d", "e", "f"), lines("a", "B", "c", "d", "e", "f"), nil},
		{"binary", append([]byte{0}, base...), base, nil},
		{"no final newline", []byte("a\nb\nc\nd\ne\nF"), lines("A", "b", "c", "d", "e", "f"), []byte("A\nb\nc\nd\ne\nF")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := merge3(base, tt.ours, tt.theirs)
			if tt.want == nil {
				assert.False(t, ok, "want conflict, got %q", got)
				return
			}
			require.True(t, ok)
			assert.Equal(t, string(tt.want), string(got))
		})
	}
}

// revertFixture has a promotion commit P (production 1.0.0 -> 1.1.0, plus a new
// file) on top of the seed.
func revertFixture(t *testing.T) (*fixture, *Repo, string) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		writeFile(t, dir, "clusters/production/added.yaml", "new: true\n")
		require.NoError(t, os.Remove(filepath.Join(dir, "scripts/check.sh")))
		return &CommitSpec{Message: "promote(production): my-app 1.1.0 from staging", Author: testAuthor}, nil
	}, PushOptions{})
	require.NoError(t, err)
	return f, r, res.Commit
}

func rollback(r *Repo, promotion string, changed *[]string) ApplyFunc {
	return func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		files, err := r.RevertInto(ctx, promotion, dir)
		if err != nil {
			return nil, err
		}
		*changed = files
		return &CommitSpec{Message: "rollback(production): revert " + promotion[:12], Author: testAuthor,
			Trailers: []Trailer{{"Reverts", promotion}}}, nil
	}
}

func TestRevertIntoClean(t *testing.T) {
	f, r, promotion := revertFixture(t)
	// An unrelated later commit does not get in the way.
	f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "staging moves on")
	var changed []string
	res, err := r.CommitAndPush(t.Context(), "main", rollback(r, promotion, &changed), PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"clusters/production/added.yaml", productionFile, "scripts/check.sh"}, changed)
	assert.Equal(t, changed, res.Files)

	// The production tree is the seed's again; staging keeps its later change.
	assert.Equal(t, f.git(t, "rev-parse", f.seed+":clusters/production"), f.git(t, "rev-parse", "main:clusters/production"))
	assert.Equal(t, f.git(t, "rev-parse", f.seed+":scripts"), f.git(t, "rev-parse", "main:scripts"), "mode and content restored")
	assert.Equal(t, stagingYAML("1.2.0"), f.git(t, "show", "main:"+stagingFile)+"\n")
	assert.Equal(t, "Reverts: "+promotion, f.git(t, "log", "-1", "--format=%(trailers)", "main"))

	// Reverting again changes nothing: a no-op.
	res, err = r.CommitAndPush(t.Context(), "main", rollback(r, promotion, &changed), PushOptions{})
	require.NoError(t, err)
	assert.True(t, res.NoOp)
	assert.Empty(t, changed)
}

func TestRevertIntoMergesApartEdits(t *testing.T) {
	f, r, promotion := revertFixture(t)
	// A later edit to the first line of the same file, far from the image tag.
	later := strings.Replace(stagingYAML("1.1.0"), "apiVersion: kustomize.config.k8s.io/v1beta1", "apiVersion: kustomize.config.k8s.io/v1beta1 # edited", 1)
	f.pushFile(t, "main", productionFile, later, "comment")
	var changed []string
	_, err := r.CommitAndPush(t.Context(), "main", rollback(r, promotion, &changed), PushOptions{})
	require.NoError(t, err)
	want := strings.Replace(stagingYAML("1.0.0"), "v1beta1", "v1beta1 # edited", 1)
	assert.Equal(t, want, f.git(t, "show", "main:"+productionFile)+"\n")
}

func TestRevertIntoConflict(t *testing.T) {
	f, r, promotion := revertFixture(t)
	next := f.pushFile(t, "main", productionFile, stagingYAML("1.2.0"), "promote 1.2.0 by hand")
	f.pushFile(t, "main", stagingFile, stagingYAML("1.3.0"), "unrelated")
	var changed []string
	_, err := r.CommitAndPush(t.Context(), "main", rollback(r, promotion, &changed), PushOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrConflict)
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, promotion, ce.Commit)
	assert.Equal(t, []string{productionFile}, ce.Files)
	assert.Equal(t, []string{next}, ce.Since, "names the later commit that touched the file")
	assert.Contains(t, err.Error(), productionFile)
	assert.Contains(t, err.Error(), next[:12])
	assert.Contains(t, err.Error(), promotion[:12])
	assert.Nil(t, changed)

	// Outside CommitAndPush, on a plain directory: the conflict leaves dir untouched.
	head, err := r.BranchHead(t.Context(), "main")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "tree")
	require.NoError(t, r.Checkout(t.Context(), head, dir))
	_, err = r.RevertInto(t.Context(), promotion, dir)
	require.ErrorIs(t, err, ErrConflict)
	assert.Equal(t, "new: true\n", readFile(t, filepath.Join(dir, "clusters/production/added.yaml")))
}

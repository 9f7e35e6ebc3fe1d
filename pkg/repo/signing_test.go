package repo

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// TestSignedObjectsVerifyWithGit signs a promotion commit, a merge commit, a Git
// note's commit and an annotated tag with an SSH key and with an OpenPGP key, pushes
// them, and has the git binary verify each one (verify-commit, verify-tag): with the
// signer's public key they verify, with another key they do not.
func TestSignedObjectsVerifyWithGit(t *testing.T) {
	for _, kind := range []sign.Kind{sign.KindSSH, sign.KindOpenPGP} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			newKey := signtest.NewOpenPGP
			if kind == sign.KindSSH {
				newKey = signtest.NewSSH
			}
			key, err := newKey(dir, "signer", "s3cret")
			require.NoError(t, err)
			other, err := newKey(dir, "other", "")
			require.NoError(t, err)
			signer, err := sign.Load(key.File, []byte("s3cret"))
			require.NoError(t, err)

			f, _ := branchFixture(t, func(f *fixture) {
				f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "staging: my-app 1.2.0")
			})
			r := f.open(t, Options{Signer: signer})
			ctx := context.Background()

			// A promotion (and revert) commit.
			res, err := r.CommitAndPush(ctx, "production", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
				writeFile(t, dir, productionFile, stagingYAML("1.2.0"))
				return &CommitSpec{Message: "promote(production): my-app 1.2.0", Author: tester}, nil
			}, PushOptions{})
			require.NoError(t, err)
			promoted := res.Commit

			// A merge commit, an annotated tag on it and a note, pushed together.
			main, err := r.BranchHead(ctx, "main")
			require.NoError(t, err)
			m, err := r.MergeTree(ctx, promoted, main, MergeOptions{})
			require.NoError(t, err)
			merge, err := r.CommitMerge(ctx, m, CommitSpec{Message: "promote(production): merge", Author: tester})
			require.NoError(t, err)
			tag, err := r.CreateTag(ctx, "v1.0.1", merge, "release v1.0.1", tester)
			require.NoError(t, err)
			note, err := r.AddNote(ctx, merge, "promoted\n", tester)
			require.NoError(t, err)
			_, err = r.Land(ctx, "production", func(ctx context.Context, head string) (*Made, error) {
				return &Made{Commit: merge, Files: m.Files, Also: []RefUpdate{tag, note}}, nil
			}, PushOptions{})
			require.NoError(t, err)

			objects := []struct{ kind, name string }{
				{"commit", promoted}, {"commit", merge}, {"commit", note.Name}, {"tag", "v1.0.1"},
			}
			for _, o := range objects {
				out, err := signtest.Verify(f.bare, t.TempDir(), o.kind, o.name, key)
				require.NoError(t, err, "git verify-%s %s: %s", o.kind, o.name, out)
				t.Logf("verify-%s %s: %s", o.kind, o.name, out)
				_, err = signtest.Verify(f.bare, t.TempDir(), o.kind, o.name, other)
				assert.Error(t, err, "git verify-%s %s with another key", o.kind, o.name)
			}
			assert.Contains(t, f.git(t, "cat-file", "-p", "v1.0.1"), "release v1.0.1\n-----BEGIN", "the signature follows the tag message, as git writes it")
		})
	}
}

// TestUnsignedWithoutSigner: without a signer nothing is signed, so git refuses to
// verify (the check above can fail).
func TestUnsignedWithoutSigner(t *testing.T) {
	key, err := signtest.NewSSH(t.TempDir(), "k", "")
	require.NoError(t, err)
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	res, err := r.CommitAndPush(context.Background(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, stagingFile, stagingYAML("1.9.0"))
		return &CommitSpec{Message: "unsigned", Author: tester}, nil
	}, PushOptions{})
	require.NoError(t, err)
	_, err = signtest.Verify(f.bare, t.TempDir(), "commit", res.Commit, key)
	assert.Error(t, err)
	assert.NotContains(t, f.git(t, "cat-file", "-p", res.Commit), "gpgsig")
}

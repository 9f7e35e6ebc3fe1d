package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitserver.Git(dir, args...)
	require.NoError(t, err)
	return out
}

func promoteTo(t *testing.T, tag string) ApplyFunc {
	return func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML(tag))
		return &CommitSpec{Message: "promote " + tag, Author: testAuthor}, nil
	}
}

func TestRepoDirDirty(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	work := f.clone(t)

	// Untracked files do not make a checkout dirty.
	writeFile(t, work, "notes.txt", "mine\n")
	r, err := Open(t.Context(), Options{URL: f.url, RepoDir: work})
	require.NoError(t, err)
	require.NoError(t, r.Close())

	writeFile(t, work, productionFile, "edited\n")
	writeFile(t, work, "apps/new.yaml", "staged: true\n")
	run(t, work, "add", "apps/new.yaml")
	_, err = Open(t.Context(), Options{URL: f.url, RepoDir: work})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrDirty)
	assert.Contains(t, err.Error(), productionFile)
	assert.Contains(t, err.Error(), "apps/new.yaml")
	assert.NotContains(t, err.Error(), "notes.txt")
	assert.Contains(t, err.Error(), "git stash")
	assert.Equal(t, "edited\n", readFile(t, filepath.Join(work, productionFile)), "nothing touched")
}

func TestRepoDirCommitAndPush(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	work := f.clone(t)
	run(t, work, "config", "core.fileMode", "true")
	writeFile(t, work, "notes.txt", "untracked and kept\n")
	// The checkout's remote is found by URL even when it is not "origin".
	run(t, work, "remote", "rename", "origin", "upstream")
	run(t, work, "remote", "add", "origin", "https://example.invalid/other.git")

	r := f.open(t, Options{RepoDir: work, URL: f.url + "/"})
	assert.Equal(t, f.url, r.URL())
	res, err := r.CommitAndPush(t.Context(), "main", promoteTo(t, "1.1.0"), PushOptions{})
	require.NoError(t, err)
	assert.True(t, res.LocalUpdated)

	// Pushed, and the checkout fast-forwarded like "git pull --ff-only" would.
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "main"))
	assert.Equal(t, res.Commit, run(t, work, "rev-parse", "HEAD"))
	assert.Equal(t, res.Commit, run(t, work, "rev-parse", "upstream/main"))
	assert.Equal(t, stagingYAML("1.1.0"), readFile(t, filepath.Join(work, productionFile)))
	assert.Equal(t, "?? notes.txt", run(t, work, "status", "--porcelain"))
	assert.Equal(t, "untracked and kept\n", readFile(t, filepath.Join(work, "notes.txt")))
	run(t, work, "fsck", "--strict")
}

func TestRepoDirLocalChangesDuringPromotion(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	work := f.clone(t)
	r := f.open(t, Options{RepoDir: work, URL: f.url})
	before := run(t, work, "rev-parse", "HEAD")

	// The user edits a tracked file while the promotion runs (e.g. at the prompt).
	res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, work, stagingFile, "user edit\n")
		return promoteTo(t, "1.1.0")(ctx, head, dir)
	}, PushOptions{})
	require.NoError(t, err)
	assert.False(t, res.LocalUpdated, "the checkout is left for the user to pull")
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "main"), "pushed anyway")
	assert.Equal(t, before, run(t, work, "rev-parse", "HEAD"))
	assert.Equal(t, "user edit\n", readFile(t, filepath.Join(work, stagingFile)))
	assert.Equal(t, "M "+stagingFile, run(t, work, "status", "--porcelain"), "the edit is kept, unstaged")
	assert.Equal(t, res.Commit, run(t, work, "rev-parse", "origin/main"))
}

func TestRepoDirUntrackedCollision(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	work := f.clone(t)
	writeFile(t, work, "clusters/production/new.yaml", "user's own\n")
	r := f.open(t, Options{RepoDir: work, URL: f.url})
	res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, "clusters/production/new.yaml", "promoted\n")
		return &CommitSpec{Message: "add", Author: testAuthor}, nil
	}, PushOptions{})
	require.NoError(t, err)
	assert.False(t, res.LocalUpdated)
	assert.Equal(t, "user's own\n", readFile(t, filepath.Join(work, "clusters/production/new.yaml")))
}

func TestRepoDirOtherBranchCheckedOut(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	work := f.clone(t)
	run(t, work, "checkout", "--quiet", "-b", "topic")
	writeFile(t, work, "topic.txt", "x\n")
	run(t, work, "add", "topic.txt")
	run(t, work, "commit", "--quiet", "-m", "topic")
	r := f.open(t, Options{RepoDir: work, URL: f.url})
	res, err := r.CommitAndPush(t.Context(), "main", promoteTo(t, "1.1.0"), PushOptions{})
	require.NoError(t, err)
	assert.True(t, res.LocalUpdated)
	assert.Equal(t, res.Commit, run(t, work, "rev-parse", "main"), "local main fast-forwarded")
	assert.Equal(t, "topic", run(t, work, "rev-parse", "--abbrev-ref", "HEAD"))
	assert.Equal(t, "", run(t, work, "status", "--porcelain"))
	_, err = os.Stat(filepath.Join(work, "topic.txt"))
	assert.NoError(t, err)
}

func TestRepoDirAuthor(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	work := f.clone(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_AUTHOR_NAME", "")
	t.Setenv("GIT_AUTHOR_EMAIL", "")
	require.NoError(t, os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Global\n\temail = global@example.com\n"), 0o644))
	run(t, work, "config", "user.email", "local@example.com")
	r := f.open(t, Options{RepoDir: work, URL: f.url})
	sig, err := r.Author()
	require.NoError(t, err)
	assert.Equal(t, Signature{"Global", "local@example.com"}, sig)

	tmp := f.open(t, Options{})
	sig, err = tmp.Author()
	require.NoError(t, err)
	assert.Equal(t, Signature{"Global", "global@example.com"}, sig)
}

// A checkout whose remotes are all another repository (a fork with the same
// history) is refused: pushing there would announce to Flux a revision it never sees.
func TestRepoDirForkRefused(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	work := f.clone(t)
	run(t, work, "remote", "set-url", "origin", "https://example.invalid/fork/fleet.git")
	before := f.git(t, "rev-parse", "main")
	_, err := Open(t.Context(), Options{URL: f.url, RepoDir: work})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has no remote for "+f.url)
	assert.Contains(t, err.Error(), "origin https://example.invalid/fork/fleet.git")
	assert.Contains(t, err.Error(), "remote add flux "+f.url)
	assert.Equal(t, before, f.git(t, "rev-parse", "main"), "nothing pushed")
}

// A --repo-dir made by CI's shallow checkout (fetch-depth: 1) is deepened on Open, so
// the history a promotion reads (the source's applied commit, the log a rollback
// walks) is there.
func TestRepoDirShallowCloneIsDeepened(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	second := f.pushFile(t, "main", "apps/a.yaml", "a: 1\n", "second")
	third := f.pushFile(t, "main", "apps/b.yaml", "b: 1\n", "third")
	work := filepath.Join(t.TempDir(), "work")
	_, err := gitserver.Git(filepath.Dir(work), "clone", "--quiet", "--depth", "1", f.authURL(), work)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(work, ".git", "shallow"))
	_, err = gitserver.Git(work, "cat-file", "-e", second)
	require.Error(t, err, "the shallow clone lacks the older commits")

	r, err := Open(t.Context(), Options{URL: f.url, RepoDir: work})
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Checkout(t.Context(), second, filepath.Join(t.TempDir(), "at-second")))
	log, err := r.Log(t.Context(), "main", LogOptions{})
	require.NoError(t, err)
	require.Len(t, log, 3)
	require.Equal(t, third, log[0].SHA)
	require.Equal(t, f.seed, log[2].SHA)
	require.NoFileExists(t, filepath.Join(work, ".git", "shallow"), "unshallowed, as git fetch --unshallow leaves it")
	run(t, work, "log", "--oneline", f.seed) // the git binary agrees
}

// A shallow checkout whose remote cannot send the missing history (itself shallow)
// is refused with the command that fixes it, and nothing is written to it.
func TestRepoDirShallowCloneRefusedWhenItCannotBeDeepened(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.pushFile(t, "main", "apps/a.yaml", "a: 1\n", "second")
	shallowBare := f.srv.Dir("shallow.git")
	_, err := gitserver.Git(filepath.Dir(shallowBare), "clone", "--quiet", "--bare", "--depth", "1", "file://"+f.bare, shallowBare)
	require.NoError(t, err)
	url := f.srv.URL("shallow.git")
	work := filepath.Join(t.TempDir(), "work")
	_, err = gitserver.Git(filepath.Dir(work), "clone", "--quiet", "--depth", "1", url, work)
	require.NoError(t, err)

	_, err = Open(t.Context(), Options{URL: url, RepoDir: work})
	require.Error(t, err)
	require.Contains(t, err.Error(), "is a shallow clone")
	require.Contains(t, err.Error(), `run "git -C `+work+` fetch --unshallow"`)
	require.FileExists(t, filepath.Join(work, ".git", "shallow"))
}

package repo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

func TestCloneAndCheckoutAtRevision(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	second := f.pushFile(t, "main", stagingFile, stagingYAML("1.2.0"), "bump staging")
	r := f.open(t, Options{})

	head, err := r.BranchHead(t.Context(), "main")
	require.NoError(t, err)
	assert.Equal(t, second, head)

	// Flux's lastAppliedRevision for the seed commit.
	sha, err := flux.CommitSHA("main@sha1:" + f.seed)
	require.NoError(t, err)

	dir := filepath.Join(t.TempDir(), "seed")
	require.NoError(t, r.Checkout(t.Context(), sha, dir))
	assert.Equal(t, stagingYAML("1.1.0"), readFile(t, filepath.Join(dir, stagingFile)))
	fi, err := os.Stat(filepath.Join(dir, "scripts/check.sh"))
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode().Perm()&0o100, "executable bit kept")
	target, err := os.Readlink(filepath.Join(dir, "apps/staging-link"))
	require.NoError(t, err, "symlink checked out as a symlink")
	assert.Equal(t, "../clusters/staging", target)

	dir2 := filepath.Join(t.TempDir(), "head")
	require.NoError(t, r.Checkout(t.Context(), head, dir2))
	assert.Equal(t, stagingYAML("1.2.0"), readFile(t, filepath.Join(dir2, stagingFile)))

	// The same tree as the git binary checks out.
	assert.Equal(t, f.git(t, "rev-parse", head+"^{tree}"), treeOf(t, dir2))

	assert.Error(t, r.Checkout(t.Context(), head, dir2), "directory not empty")
	_, err = r.BranchHead(t.Context(), "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	err = r.Checkout(t.Context(), strings.Repeat("ab", 20), filepath.Join(t.TempDir(), "x"))
	assert.ErrorIs(t, err, ErrNotFound)
}

// treeOf returns the tree id git computes for dir's files.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	work := t.TempDir()
	require.NoError(t, os.CopyFS(work, os.DirFS(dir)))
	for _, args := range [][]string{{"init", "--quiet"}, {"add", "--all"}, {"write-tree"}} {
		out, err := gitserver.Git(work, args...)
		require.NoError(t, err)
		if args[0] == "write-tree" {
			return out
		}
	}
	return ""
}

func TestCommitAndPushWithTrailers(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	trailers := []Trailer{
		{"Promoted-From", "staging"},
		{"Promoted-From-Revision", "main@sha1:" + f.seed},
		{"Promoted-Image", "ghcr.io/example/my-app:1.1.0"},
		{"Promoted-Image", "ghcr.io/example/sidecar:2.0.0"},
		{"Promoted-By", "Promoter Bot <promoter@example.com>"},
	}
	var heads []string
	res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		heads = append(heads, head)
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		require.NoError(t, os.Remove(filepath.Join(dir, "scripts/check.sh")))
		writeFile(t, dir, "clusters/production/NOTES.md", "promoted\n")
		return &CommitSpec{
			Message:  "promote(production): my-app 1.1.0 from staging\n\nGates passed.",
			Trailers: trailers,
			Author:   testAuthor,
		}, nil
	}, PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{f.seed}, heads)
	assert.Equal(t, 1, res.Attempts)
	assert.False(t, res.NoOp)
	assert.Equal(t, f.seed, res.Parent)
	assert.Equal(t, "main", res.Branch)
	assert.Equal(t, []string{"clusters/production/NOTES.md", productionFile, "scripts/check.sh"}, res.Files)

	// Read back with the reference implementation.
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "main"))
	assert.Equal(t, f.seed, f.git(t, "rev-parse", "main^"))
	assert.Equal(t, "promote(production): my-app 1.1.0 from staging", f.git(t, "log", "-1", "--format=%s", "main"))
	assert.True(t, strings.HasPrefix(f.git(t, "log", "-1", "--format=%b", "main"), "Gates passed.\n\nPromoted-From: staging\n"))
	var want []string
	for _, tr := range trailers {
		want = append(want, tr.Key+": "+tr.Value)
	}
	assert.Equal(t, strings.Join(want, "\n"), f.git(t, "log", "-1", "--format=%(trailers)", "main"))
	assert.Equal(t, "ghcr.io/example/my-app:1.1.0\nghcr.io/example/sidecar:2.0.0",
		f.git(t, "log", "-1", "--format=%(trailers:key=Promoted-Image,valueonly)", "main"))
	assert.Equal(t, "Promoter Bot <promoter@example.com>", f.git(t, "log", "-1", "--format=%an <%ae>", "main"))
	changed := f.git(t, "diff-tree", "--no-commit-id", "--name-status", "-r", "main")
	assert.Equal(t, "A\tclusters/production/NOTES.md\nM\t"+productionFile+"\nD\tscripts/check.sh", changed)
	assert.Equal(t, stagingYAML("1.1.0"), f.git(t, "show", "main:"+productionFile)+"\n")
	f.git(t, "fsck", "--strict")

	head, err := r.BranchHead(t.Context(), "main")
	require.NoError(t, err)
	assert.Equal(t, res.Commit, head, "remote-tracking ref updated by the push")
}

func TestCommitAndPushNoOp(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})

	res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		return nil, nil
	}, PushOptions{})
	require.NoError(t, err)
	assert.True(t, res.NoOp)
	assert.Empty(t, res.Commit)

	// Rewriting a file with the same content is no change either.
	res, err = r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML("1.0.0"))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "empty/dir"), 0o755))
		return &CommitSpec{Message: "nothing", Author: testAuthor}, nil
	}, PushOptions{})
	require.NoError(t, err)
	assert.True(t, res.NoOp)
	assert.Equal(t, f.seed, f.git(t, "rev-parse", "main"))
}

// Another writer pushes between our apply and our push: the apply func runs again on
// the new head and the result lands on top of the other commit.
func TestCommitAndPushReappliesOnNewHead(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	var other string
	var heads []string
	res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		heads = append(heads, head)
		if len(heads) == 1 {
			other = f.pushFile(t, "main", "clusters/staging/extra.yaml", "x: 1\n", "someone else")
		} else {
			assert.Equal(t, "x: 1\n", readFile(t, filepath.Join(dir, "clusters/staging/extra.yaml")), "second apply sees the other commit")
		}
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		return &CommitSpec{Message: "promote", Author: testAuthor}, nil
	}, PushOptions{Backoff: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{f.seed, other}, heads)
	assert.Equal(t, 2, res.Attempts)
	assert.Equal(t, other, res.Parent)
	assert.Equal(t, []string{productionFile}, res.Files)
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "main"))
	assert.Equal(t, other, f.git(t, "rev-parse", "main^"), "linear: built on the other commit")
}

// Two pipelines promote at the same moment from separate clones: both land, history
// stays linear, nobody forces.
func TestCommitAndPushTwoWritersRace(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	repos := []*Repo{f.open(t, Options{}), f.open(t, Options{})}
	files := []string{"clusters/production/a.yaml", "clusters/production/b.yaml"}

	// Both first attempts build on the same head before either pushes.
	var arrived sync.WaitGroup
	arrived.Add(2)
	release := make(chan struct{})
	go func() { arrived.Wait(); close(release) }()
	var calls atomic.Int32

	results := make([]*PushResult, 2)
	errs := make([]error, 2)
	var done sync.WaitGroup
	for i := range repos {
		done.Add(1)
		go func() {
			defer done.Done()
			first := true
			results[i], errs[i] = repos[i].CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
				calls.Add(1)
				if first {
					first = false
					if head != f.seed {
						return nil, fmt.Errorf("first attempt saw %s, want the seed", head)
					}
					arrived.Done()
					select {
					case <-release:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				writeFile(t, dir, files[i], fmt.Sprintf("writer: %d\n", i))
				return &CommitSpec{Message: fmt.Sprintf("writer %d", i), Author: testAuthor}, nil
			}, PushOptions{Backoff: 1})
		}()
	}
	done.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.Equal(t, int32(3), calls.Load(), "the loser re-applied once")

	winner, loser := results[0], results[1]
	if winner.Attempts != 1 {
		winner, loser = loser, winner
	}
	assert.Equal(t, 1, winner.Attempts)
	assert.Equal(t, 2, loser.Attempts)
	assert.Equal(t, f.seed, winner.Parent)
	assert.Equal(t, winner.Commit, loser.Parent)

	// Linear history seed <- winner <- loser, both files present, nothing forced.
	assert.Equal(t, loser.Commit, f.git(t, "rev-parse", "main"))
	assert.Equal(t, strings.Join([]string{loser.Commit + " " + winner.Commit, winner.Commit + " " + f.seed, f.seed}, "\n"),
		f.git(t, "rev-list", "--parents", "main"))
	for i, p := range files {
		assert.Equal(t, fmt.Sprintf("writer: %d", i), f.git(t, "show", "main:"+p))
	}
}

func TestCommitAndPushProtectedBranch(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	require.NoError(t, f.srv.Protect(f.name, "main", "GH006: Protected branch update failed for refs/heads/main: changes must be made through a pull request."))
	r := f.open(t, Options{})
	calls := 0
	_, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		calls++
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		return &CommitSpec{Message: "promote", Author: testAuthor}, nil
	}, PushOptions{Backoff: 1})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrPushRejected)
	var rej *PushRejectedError
	require.ErrorAs(t, err, &rej)
	assert.Contains(t, rej.Message, "GH006: Protected branch update failed")
	assert.Contains(t, err.Error(), "changes must be made through a pull request")
	assert.Equal(t, "main", rej.Branch)
	assert.Equal(t, 1, calls, "a rejection is not retried")
	assert.Equal(t, f.seed, f.git(t, "rev-parse", "main"))

	// Other branches are not protected.
	f.git(t, "branch", "promote/next", "main")
	require.NoError(t, r.Fetch(t.Context()))
	res, err := r.CommitAndPush(t.Context(), "promote/next", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		return &CommitSpec{Message: "promote", Author: testAuthor}, nil
	}, PushOptions{})
	require.NoError(t, err)
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "promote/next"))
}

func TestBasicAuth(t *testing.T) {
	const password = "s3cr3t-Passw0rd"
	f := newFixture(t, gitserver.Options{Username: "flux", Password: password})

	t.Run("success", func(t *testing.T) {
		r := f.open(t, Options{Auth: Auth{Username: "flux", Password: password}})
		res, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
			writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
			return &CommitSpec{Message: "promote", Author: testAuthor}, nil
		}, PushOptions{})
		require.NoError(t, err)
		assert.Equal(t, res.Commit, f.git(t, "rev-parse", "main"))
		// The credentials are not written into the temporary clone either.
		assertNoSecretUnder(t, storeDir(r), password)
	})
	t.Run("token", func(t *testing.T) {
		// A token is sent as the password; the server here wants user "flux".
		r := f.open(t, Options{Auth: Auth{Username: "flux", Token: password}})
		_, err := r.BranchHead(t.Context(), "main")
		require.NoError(t, err)
	})
	t.Run("credentials in the URL", func(t *testing.T) {
		r := f.open(t, Options{URL: f.authURL()})
		assert.NotContains(t, r.URL(), password)
		assertNoSecretUnder(t, storeDir(r), password)
	})

	failures := map[string]Options{
		"wrong password":        {URL: f.url, Auth: Auth{Username: "flux", Password: password + "-wrong"}},
		"wrong token":           {URL: f.url, Auth: Auth{Token: password + "-wrong"}},
		"wrong password in URL": {URL: strings.Replace(f.url, "http://", "http://flux:"+password+"-wrong@", 1)},
		"no credentials":        {URL: f.url},
	}
	for name, opts := range failures {
		t.Run(name, func(t *testing.T) {
			_, err := Open(t.Context(), opts)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrAuthentication)
			assert.NotErrorIs(t, err, ErrUnreachable)
			assert.NotContains(t, err.Error(), password)
			assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), password)
			assert.Contains(t, err.Error(), EnvToken, "says what to set")
		})
	}
}

func assertNoSecretUnder(t *testing.T, dir, secret string) {
	t.Helper()
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assert.NotContains(t, string(b), secret, "secret stored in %s", p)
		return nil
	}))
}

func TestUnreachable(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = Open(t.Context(), Options{URL: "http://user:hunter22@" + addr + "/fleet.git"})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnreachable)
	assert.NotContains(t, err.Error(), "hunter22")
	assert.NotContains(t, err.Error(), "user@")

	// A server without that repository.
	f := newFixture(t, gitserver.Options{})
	_, err = Open(t.Context(), Options{URL: f.srv.URL("missing.git")})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnreachable)
	assert.Contains(t, err.Error(), "missing.git")
}

func TestCancelledContext(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	_, err := r.CommitAndPush(ctx, "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		cancel()
		return &CommitSpec{Message: "promote", Author: testAuthor}, nil
	}, PushOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, f.seed, f.git(t, "rev-parse", "main"))
}

func TestApplyErrorsAndValidation(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	boom := errors.New("boom")
	_, err := r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		return nil, boom
	}, PushOptions{})
	assert.ErrorIs(t, err, boom)
	_, err = r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, "x", "y")
		return &CommitSpec{Message: "m", Author: testAuthor, Trailers: []Trailer{{"Bad Key", "v"}}}, nil
	}, PushOptions{})
	assert.ErrorContains(t, err, "invalid trailer key")
	_, err = r.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, "x", "y")
		return &CommitSpec{Message: "m"}, nil
	}, PushOptions{})
	assert.ErrorContains(t, err, "--author")
	_, err = r.CommitAndPush(t.Context(), "nope", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		return nil, nil
	}, PushOptions{})
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, f.seed, f.git(t, "rev-parse", "main"))
}

func TestCommitAndPushCreatesBranchFromBase(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	r := f.open(t, Options{})
	_, err := r.CommitAndPush(t.Context(), "promote/production-1.1.0", promoteTo(t, "1.1.0"), PushOptions{})
	require.ErrorIs(t, err, ErrNotFound)
	res, err := r.CommitAndPush(t.Context(), "promote/production-1.1.0", promoteTo(t, "1.1.0"), PushOptions{Base: "main"})
	require.NoError(t, err)
	assert.Equal(t, f.seed, res.Parent)
	assert.Equal(t, res.Commit, f.git(t, "rev-parse", "promote/production-1.1.0"))
	assert.Equal(t, f.seed, f.git(t, "rev-parse", "main"), "base untouched")

	// Once it exists, the branch itself is the base.
	res2, err := r.CommitAndPush(t.Context(), "promote/production-1.1.0", promoteTo(t, "1.2.0"), PushOptions{Base: f.seed})
	require.NoError(t, err)
	assert.Equal(t, res.Commit, res2.Parent)
}

// Two runs make the very same commit (same edit on the same head, same author, same
// second): the one that pushes second pushed nothing, and says so (NoOp) instead of
// reporting the other's commit as its own.
func TestCommitAndPushSameCommitPushedByAnother(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	commitTime = func() time.Time { return at }
	t.Cleanup(func() { commitTime = time.Now })
	f := newFixture(t, gitserver.Options{})
	a, b := f.open(t, Options{}), f.open(t, Options{})
	edit := func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		writeFile(t, dir, productionFile, stagingYAML("1.1.0"))
		return &CommitSpec{Message: "promote my-app 1.1.0", Author: testAuthor}, nil
	}
	var first *PushResult
	second, err := b.CommitAndPush(t.Context(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
		require.Equal(t, f.seed, head)
		// a makes and pushes the same commit while b is making it.
		var err error
		first, err = a.CommitAndPush(ctx, "main", edit, PushOptions{})
		require.NoError(t, err)
		require.False(t, first.NoOp)
		return edit(ctx, head, dir)
	}, PushOptions{})
	require.NoError(t, err)
	assert.True(t, second.NoOp, "the same commit was already there: b pushed nothing")
	assert.Empty(t, second.Commit)
	assert.Equal(t, first.Commit, f.git(t, "rev-parse", "main"))
}

package repo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

var testAuthor = Signature{Name: "Promoter Bot", Email: "promoter@example.com"}

const (
	stagingFile    = "clusters/staging/kustomization.yaml"
	productionFile = "clusters/production/kustomization.yaml"
)

func stagingYAML(tag string) string {
	return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../apps/my-app\nimages:\n  - name: ghcr.io/example/my-app\n    newTag: " + tag + "\n"
}

// seedDir is the first commit of every test repository.
func seedDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		stagingFile:                   stagingYAML("1.1.0"),
		productionFile:                stagingYAML("1.0.0"),
		"apps/my-app/deployment.yaml": "kind: Deployment\nmetadata:\n  name: my-app\n",
		"scripts/check.sh":            "#!/bin/sh\necho ok\n",
	}
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(c), 0o644))
	}
	require.NoError(t, os.Chmod(filepath.Join(dir, "scripts/check.sh"), 0o755))
	require.NoError(t, os.Symlink("../clusters/staging", filepath.Join(dir, "apps", "staging-link")))
	return dir
}

type fixture struct {
	srv  *gitserver.Server
	name string
	url  string
	bare string
	seed string // sha of the first commit
	cred string // "user:pass@" for the git binary, if the server needs it
}

func newFixture(t testing.TB, opts gitserver.Options) *fixture {
	t.Helper()
	srv := gitserver.NewForTest(t, opts)
	f := &fixture{srv: srv, name: "fleet.git", url: srv.URL("fleet.git"), bare: srv.Dir("fleet.git")}
	if opts.Username != "" {
		f.cred = opts.Username + ":" + opts.Password + "@"
	}
	sha, err := srv.Init(f.name, seedDir(t), "main")
	require.NoError(t, err)
	f.seed = sha
	return f
}

// git runs the git binary in the server's bare repository.
func (f *fixture) git(t testing.TB, args ...string) string {
	t.Helper()
	out, err := gitserver.Git(f.bare, args...)
	require.NoError(t, err)
	return out
}

func (f *fixture) authURL() string {
	return strings.Replace(f.url, "http://", "http://"+f.cred, 1)
}

// clone makes a working copy with the git binary.
func (f *fixture) clone(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	_, err := gitserver.Git(filepath.Dir(dir), "clone", "--quiet", f.authURL(), dir)
	require.NoError(t, err)
	return dir
}

// pushFile commits content at path on branch with the git binary, as another user
// would, and returns the new head.
func (f *fixture) pushFile(t testing.TB, branch, path, content, msg string) string {
	t.Helper()
	dir := f.clone(t)
	run := func(args ...string) string {
		out, err := gitserver.Git(dir, args...)
		require.NoError(t, err)
		return out
	}
	run("checkout", "--quiet", branch)
	full := filepath.Join(dir, filepath.FromSlash(path))
	require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
	require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
	run("add", "--all")
	run("commit", "--quiet", "-m", msg)
	run("push", "--quiet", "origin", branch)
	return run("rev-parse", "HEAD")
}

func (f *fixture) open(t testing.TB, opts Options) *Repo {
	t.Helper()
	if opts.URL == "" {
		opts.URL = f.url
	}
	r, err := Open(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// writeFile is an ApplyFunc building block: it sets path to content under dir.
func writeFile(t testing.TB, dir, path, content string) {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(path))
	require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
	require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// storeDir is where r keeps its objects: its cache, or its temporary clone.
func storeDir(r *Repo) string {
	if r.cacheDir != "" {
		return r.cacheDir
	}
	return r.tmp
}

package gitserver

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seed(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "clusters", "staging"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters", "staging", "k.yaml"), []byte("a: 1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.Symlink("clusters/staging", filepath.Join(dir, "link")))
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := Git(dir, args...)
	require.NoError(t, err)
	return out
}

func TestInitCloneAndPush(t *testing.T) {
	s := NewForTest(t, Options{})
	assert.True(t, strings.HasPrefix(s.URL("fleet.git"), "http://127.0.0.1:"))
	head, err := s.Init("fleet.git", seed(t), "main")
	require.NoError(t, err)
	assert.Len(t, head, 40)
	_, err = s.Init("fleet.git", "", "main")
	assert.Error(t, err, "exists")

	work := filepath.Join(t.TempDir(), "w")
	git(t, filepath.Dir(work), "clone", "--quiet", s.URL("fleet.git"), work)
	assert.Equal(t, head, git(t, work, "rev-parse", "HEAD"))
	assert.Equal(t, "main", git(t, work, "rev-parse", "--abbrev-ref", "HEAD"))
	assert.Equal(t, "120000 link\n100755 run.sh",
		git(t, work, "ls-tree", "HEAD", "--format=%(objectmode) %(path)", "link", "run.sh"), "symlinks and modes kept")

	require.NoError(t, os.WriteFile(filepath.Join(work, "new.txt"), []byte("x\n"), 0o644))
	git(t, work, "add", "new.txt")
	git(t, work, "commit", "--quiet", "-m", "new")
	git(t, work, "push", "--quiet", "origin", "main")
	assert.Equal(t, git(t, work, "rev-parse", "HEAD"), git(t, s.Dir("fleet.git"), "rev-parse", "main"))

	// An empty first commit works too.
	_, err = s.Init("empty.git", "", "trunk")
	require.NoError(t, err)
	assert.Equal(t, "", git(t, s.Dir("empty.git"), "ls-tree", "trunk"))
}

func TestBasicAuth(t *testing.T) {
	s := NewForTest(t, Options{Username: "flux", Password: "pw"})
	_, err := s.Init("fleet.git", seed(t), "main")
	require.NoError(t, err)

	resp, err := http.Get(s.URL("fleet.git") + "/info/refs?service=git-upload-pack")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")

	req, _ := http.NewRequest(http.MethodGet, s.URL("fleet.git")+"/info/refs?service=git-receive-pack", nil)
	req.SetBasicAuth("flux", "pw")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/x-git-receive-pack-advertisement", resp.Header.Get("Content-Type"))

	dir := t.TempDir()
	_, err = Git(dir, "clone", "--quiet", strings.Replace(s.URL("fleet.git"), "http://", "http://flux:wrong@", 1), "x")
	assert.Error(t, err)
	git(t, dir, "clone", "--quiet", strings.Replace(s.URL("fleet.git"), "http://", "http://flux:pw@", 1), "y")
}

func TestProtect(t *testing.T) {
	s := NewForTest(t, Options{})
	_, err := s.Init("fleet.git", seed(t), "main")
	require.NoError(t, err)
	require.NoError(t, s.Protect("fleet.git", "main", "main is protected: open a pull request"))
	require.NoError(t, s.Protect("fleet.git", "release/it's", "release is frozen"))

	work := filepath.Join(t.TempDir(), "w")
	git(t, filepath.Dir(work), "clone", "--quiet", s.URL("fleet.git"), work)
	git(t, work, "commit", "--quiet", "--allow-empty", "-m", "x")
	_, err = Git(work, "push", "origin", "main")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "main is protected: open a pull request")
	_, err = Git(work, "push", "origin", "HEAD:refs/heads/release/it's")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "release is frozen")
	git(t, work, "push", "--quiet", "origin", "HEAD:refs/heads/feature")
}

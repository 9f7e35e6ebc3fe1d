package repo

import (
	"os"
	"testing"
)

// TestMain keeps the repository cache of every test out of the user's: each Open
// without CacheDir caches under a temporary XDG_CACHE_HOME, removed at the end.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kubectl-promote-repo-test-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

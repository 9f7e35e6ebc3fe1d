package gitserver

import "os"

// TB is the part of testing.TB that NewForTest uses; it keeps this package free of
// the testing import so the demo program can link it.
type TB interface {
	Helper()
	TempDir() string
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

// NewForTest starts a server on a temporary root for the duration of the test and
// stops it at cleanup.
func NewForTest(t TB, opts Options) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("starting git server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping git server: %v", err)
		}
	})
	return s
}

// RunWithTempCache runs a package's tests with XDG_CACHE_HOME in a temporary
// directory, removed at the end, so that every repository Open without CacheDir
// caches there and never in the user's cache. Call it from TestMain.
func RunWithTempCache(m interface{ Run() int }) int {
	dir, err := os.MkdirTemp("", "kubectl-promote-test-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	defer os.RemoveAll(dir)
	return m.Run()
}

package gitserver

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

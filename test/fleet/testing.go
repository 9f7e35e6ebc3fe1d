package fleet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StartT starts a fleet for a test under t.TempDir() and stops it at cleanup,
// printing the planes' log tails when the test failed (or PLANE_LOGS is set).
func StartT(t testing.TB, o Options) *Fleet {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Progress == nil {
		o.Progress = testWriter{t}
	}
	f, err := Start(context.Background(), o)
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(o.Dir, "planes", "*", "logs", "*.log"))
		for _, l := range logs {
			t.Logf("--- %s ---\n%s", l, tail(l, 30))
		}
		t.Fatalf("start fleet: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("PLANE_LOGS") != "" {
			t.Logf("fleet logs:\n%s", f.LogTail(40))
		}
		f.Stop()
	})
	return f
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	if len(p) > 0 && p[len(p)-1] == '\n' {
		return p[:len(p)-1]
	}
	return p
}

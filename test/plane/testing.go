package plane

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

// StartT starts a plane for a test: state under a fresh t.TempDir(), binaries from
// $KUBECTL_PROMOTE_PLANE (the test fails, never skips, without them), stopped by
// t.Cleanup, with the tail of every component's log printed when the test failed.
func StartT(t testing.TB, opts Options) *Plane {
	t.Helper()
	return StartAllT(t, opts)[0]
}

// StartAllT starts several planes at once, as StartT does for one.
func StartAllT(t testing.TB, opts ...Options) []*Plane {
	t.Helper()
	planes := make([]*Plane, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i := range opts {
		if opts[i].Dir == "" {
			opts[i].Dir = t.TempDir()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			planes[i], errs[i] = Start(context.Background(), opts[i])
		}()
	}
	wg.Wait()
	for _, p := range planes {
		if p == nil {
			continue
		}
		t.Logf("plane %s up in %s (logs in %s)", p.Name(), p.StartupTime.Round(1e6), p.LogDir())
		for i, why := range p.Retries {
			t.Logf("plane %s: attempt %d abandoned: %s", p.Name(), i+1, why)
		}
		t.Cleanup(func() {
			if t.Failed() || os.Getenv("PLANE_LOGS") != "" {
				t.Logf("plane %s logs:\n%s", p.Name(), p.LogTail(40))
			}
			p.Stop()
		})
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("start planes: %v", err)
	}
	return planes
}

package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// TestSettleDiagnosesDeadSourceController: source-controller has ended and the
// GitRepository has no artifact (as when source-controller's artifact server could
// not bind its port after it had reported ready, and it exited); waiting for Flux
// says so at once, with source-controller's log, instead of waiting out "Source
// artifact not found, retrying in 30s" until its own timeout.
func TestSettleDiagnosesDeadSourceController(t *testing.T) {
	f := fleet.StartT(t, fleet.Options{Shared: true})
	ctx := context.Background()
	const env = "production"
	c := f.Client(env)
	require.NoError(t, f.Plane(env).StopComponent("source-controller"))

	sha, err := f.Commit("a commit Flux cannot fetch", func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "README.md"), []byte("new\n"), 0o644)
	})
	require.NoError(t, err)
	// No source-controller is left to keep the artifact: it is gone, as before the
	// first fetch.
	var gr sourcev1.GitRepository
	require.NoError(t, c.Get(ctx, f.SourceKey(), &gr))
	gr.Status.Artifact = nil
	require.NoError(t, c.Status().Update(ctx, &gr))
	require.NoError(t, f.Reconcile(ctx, env))

	began := time.Now()
	err = f.Settle(ctx, env, sha)
	require.Error(t, err)
	t.Logf("diagnosed in %s: %v", time.Since(began).Round(time.Millisecond), err)
	require.Less(t, time.Since(began), 30*time.Second, "diagnosed at once: %v", err)
	require.Contains(t, err.Error(), env+`: Kustomization says "Source artifact not found`)
	require.Contains(t, err.Error(), "source-controller is not running: source-controller exited")
	require.Contains(t, err.Error(), "source-controller.log")
}

package e2e

// Issue 17: waits that understand health checks cancelled by a newer revision
// (kustomize-controller's CancelHealthCheckOnNewRevision feature gate, on in these
// planes).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// rolloutDelay is how long a production my-app pod takes to become Ready: a
// promotion's rollout (5 replicas, a few pods at a time) keeps Flux's health check
// busy for a few times that, long enough for a second push to land during it.
const rolloutDelay = "10s"

// cancelFleet is the seed fleet with the feature gate on and slow production
// my-app pods (and no short progress deadline there, which the delay would trip).
func cancelFleet(t *testing.T) *fleet.Fleet {
	o := seedOptions()
	o.Envs[1].ProgressDeadlineSeconds = 0
	return fleet.StartT(t, fleet.Options{Seed: o, KustomizeFeatureGates: []string{plane.CancelHealthChecks},
		Customize: func(dir string) error {
			return editFile(dir, "apps/production/my-app-patch.yaml", func(s string) string {
				return s + "  template:\n    metadata:\n      annotations:\n        " + plane.ReadyDelayAnnotation + ": " + rolloutDelay + "\n"
			})
		}})
}

// inHealthCheck waits until production has applied image to my-app and its rollout
// is still in progress: Flux's health check of that revision is running.
func inHealthCheck(t *testing.T, f *fleet.Fleet, image string) {
	t.Helper()
	require.NoError(t, fleet.Poll(context.Background(), 2*time.Minute, func(ctx context.Context) (bool, error) {
		st, err := fleet.Deployment(ctx, f.Client(prod), fleet.AppNamespace(prod), "my-app")
		if err != nil {
			return false, nil
		}
		if len(st.Images) == 1 && st.Images[0] == image {
			require.False(t, st.Available, "the rollout of %s ended before the second push: raise rolloutDelay", image)
			return true, nil
		}
		return false, nil
	}))
}

// cancellations counts kustomize-controller's "canceling health checks" log lines
// in production's plane.
func cancellations(t *testing.T, f *fleet.Fleet) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.Plane(prod).LogDir(), "kustomize-controller.log"))
	require.NoError(t, err)
	return strings.Count(string(data), "canceling health checks")
}

// supersededDoc is the part of a Promotion this test reads besides doc.
type supersededDoc struct {
	Reconcile *struct {
		AppliedRevision string `json:"appliedRevision"`
		SupersededBy    string `json:"supersededBy"`
	} `json:"reconcile"`
	Rollback *struct{} `json:"rollback"`
}

// Two promotions race while the first one's health check runs; the second push
// cancels it (Ready=False, HealthCheckCanceled). When the newer revision contains
// the first promotion, its --wait follows it to Ready (exit 0); when it does not (a
// rollback reverted it), the first reports superseded (exit 9), neither failed nor
// rolled back, and the rollback succeeds.
func TestSupersededHealthCheck(t *testing.T) {
	parallel(t)
	f := cancelFleet(t)
	base := []string{"apps", "--from", staging, "--to", prod, "--yes", "--wait", "--timeout", "3m", "-o", "json"}

	// The newer revision contains the first promotion: followed.
	first := startPromote(t, f, nil, append(base, "--app", "my-app")...)
	inHealthCheck(t, f, myApp11)
	before := cancellations(t, f)
	second := promote(t, f, append(base, "--app", "redis")...)
	r := first.wait(t)
	require.Equal(t, 0, second.Code, second.String())
	require.Equal(t, 0, r.Code, r.String())
	require.Greater(t, cancellations(t, f), before, "kustomize-controller cancelled no health check")
	require.Contains(t, r.Stderr, "cancelled the health check; it contains", r.String())
	d, d2 := parseDoc(t, r), parseDoc(t, second)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.Equal(t, fleet.Revision(d2.Commit.SHA), d.Reconcile.AppliedRevision, "the first follows the second's revision to Ready")
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis725, true)

	// The newer revision reverts it: superseded, not rolled back.
	stagingRuns(t, f, "1.1.0", "1.2.0")
	myApp12 := seed.MyAppImage + ":1.2.0"
	third := startPromote(t, f, nil, append(base, "--app", "my-app", "--rollback-on-failure")...)
	inHealthCheck(t, f, myApp12)
	before = cancellations(t, f)
	rb := promote(t, f, "rollback", prod, "--kustomization", "apps", "--yes", "--wait")
	r = third.wait(t)
	require.Equal(t, 0, rb.Code, rb.String())
	require.Equal(t, 9, r.Code, r.String())
	require.Greater(t, cancellations(t, f), before, "kustomize-controller cancelled no health check")
	d = parseDoc(t, r)
	require.Equal(t, "superseded", d.Outcome, r.String())
	require.NotContains(t, r.Stderr, "rolling back", r.String())
	var sd supersededDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &sd))
	require.Nil(t, sd.Rollback, r.String())
	revert := head(t, f)
	require.Equal(t, fleet.Revision(revert), sd.Reconcile.SupersededBy, r.String())
	require.Equal(t, []string{d.Commit.SHA}, trailers(t, f, revert)["Rolled-Back"])
	requireDeployment(t, f, prod, "my-app", myApp11, true)
}

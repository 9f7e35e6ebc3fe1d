package reconcile

import (
	"context"
	"errors"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// Flux revisions of three commits.
const (
	commitSHA = "1111111111111111111111111111111111111111"
	newRev    = "main@sha1:" + commitSHA
	oldRev    = "main@sha1:2222222222222222222222222222222222222222"
	olderRev  = "main@sha1:3333333333333333333333333333333333333333"
)

func ks(ready metav1.ConditionStatus, reason, attempted, applied string) *kustomizev1.Kustomization {
	return &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: "flux-system", Generation: 1},
		Status: kustomizev1.KustomizationStatus{ObservedGeneration: 1, LastAttemptedRevision: attempted, LastAppliedRevision: applied,
			Conditions: []metav1.Condition{{Type: meta.ReadyCondition, Status: ready, Reason: reason, Message: "msg"}}},
	}
}

func TestApplied(t *testing.T) {
	const commit = commitSHA
	for _, tc := range []struct {
		name    string
		ks      *kustomizev1.Kustomization
		done    bool
		failure string
	}{
		{"applied and ready", ks(metav1.ConditionTrue, meta.ReconciliationSucceededReason, newRev, newRev), true, ""},
		{"ready on the old revision", ks(metav1.ConditionTrue, meta.ReconciliationSucceededReason, oldRev, oldRev), false, ""},
		{"in progress", ks(metav1.ConditionUnknown, meta.ProgressingReason, newRev, oldRev), false, ""},
		{"waiting for dependencies", ks(metav1.ConditionFalse, meta.DependencyNotReadyReason, newRev, oldRev), false, ""},
		{"an old failure, before our commit", ks(metav1.ConditionFalse, meta.HealthCheckFailedReason, oldRev, olderRev), false, ""},
		{"health check failed on our commit", ks(metav1.ConditionFalse, meta.HealthCheckFailedReason, newRev, oldRev), false, meta.HealthCheckFailedReason},
		{"build failed on our commit", ks(metav1.ConditionFalse, "BuildFailed", newRev, oldRev), false, "BuildFailed"},
		// kustomize-controller v1.10 (Flux v2.10) retries a download whose digest no
		// longer matches, as it does a missing artifact: Ready=False ArtifactFailed
		// "Source is not ready, artifact digest changed, retrying in 30s", set before
		// lastAttemptedRevision moves to the new revision. Not a failure of our commit.
		{"v2.10: artifact digest changed during the download", ks(metav1.ConditionFalse, meta.ArtifactFailedReason, oldRev, oldRev), false, ""},
		// With CancelHealthCheckOnNewRevision, the health check of the revision before
		// ours is canceled when ours arrives: Ready=False HealthCheckCanceled on the old
		// revision, then ours is applied.
		{"v2.10: the previous revision's health check canceled for ours", ks(metav1.ConditionFalse, meta.HealthCheckCanceledReason, oldRev, olderRev), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, err := Applied(tc.ks, commit)
			require.Equal(t, tc.done, done)
			if tc.failure == "" {
				require.NoError(t, err)
				return
			}
			var failed *FailedError
			require.True(t, errors.As(err, &failed), "%v", err)
			require.Equal(t, tc.failure, failed.Reason)
			require.Equal(t, "Kustomization/flux-system/apps", failed.Object)
		})
	}
	stalled := ks(metav1.ConditionFalse, "X", oldRev, "")
	stalled.Status.Conditions = append(stalled.Status.Conditions, metav1.Condition{Type: meta.StalledCondition, Status: metav1.ConditionTrue, Reason: "InvalidPath", Message: "path not found"})
	_, err := Applied(stalled, commit)
	require.ErrorContains(t, err, "Stalled: InvalidPath: path not found")
}

// The watcher wakes on a change instead of polling: an update made after the wait
// starts ends it long before the resync interval.
func TestWatcherWakesOnChange(t *testing.T) {
	obj := ks(metav1.ConditionUnknown, meta.ProgressingReason, "", "")
	c := fake.NewClientBuilder().WithScheme(flux.Scheme).WithObjects(obj).Build()
	w := &watcher{cluster: &flux.Cluster{Context: "test", Client: c}}
	ctx, cancel := context.WithTimeout(context.Background(), resync/2)
	defer cancel()
	go func() {
		time.Sleep(500 * time.Millisecond) // after the informer synced: the fake lists without a resource version
		cur := &kustomizev1.Kustomization{}
		_ = c.Get(ctx, client.ObjectKeyFromObject(obj), cur)
		cur.Status.LastAppliedRevision = newRev
		_ = c.Update(ctx, cur)
	}()
	err := w.until(ctx, &kustomizev1.KustomizationList{}, &kustomizev1.Kustomization{}, "flux-system", func(ctx context.Context) (bool, error) {
		cur := &kustomizev1.Kustomization{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
			return false, err
		}
		return cur.Status.LastAppliedRevision == newRev, nil
	})
	require.NoError(t, err, "the wait should end on the watch event, before the context's deadline (half the resync)")
}

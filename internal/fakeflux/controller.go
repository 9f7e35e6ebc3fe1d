package fakeflux

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// Controller plays source-controller and kustomize-controller on a fake cluster. The
// GitRepository handles a reconcile request (reconcile.fluxcd.io/requestedAt) by
// fetching Head; a Kustomization reconciles when its source's artifact moved or it
// is asked to, once its dependsOn are Ready on that artifact (else it reports
// DependencyNotReady and tries again), and applies the artifact: Ready, or failing
// health when Fails says so. Each records the request token it handled in
// lastHandledReconcileAt, as Flux does.
type Controller struct {
	Client client.Client
	// Head is the commit the tracked branch points at now, which a fetch gets.
	Head func() (string, error)
	// NoSource and NoKustomize leave that controller's requests unhandled, as when it
	// is not running.
	NoSource, NoKustomize bool
	// SourceFails, when set, makes the GitRepository fail every request with it.
	SourceFails string
	// Fails, when it returns a message for a Kustomization (by name) and a commit,
	// makes that Kustomization fail its health checks on the commit with the message.
	Fails func(name, sha string) string
	// Hangs, when it returns true for a Kustomization (by name) and a commit, leaves
	// that Kustomization progressing on the commit for ever: health checks that
	// outlast the caller's timeout.
	Hangs func(name, sha string) bool
	// BeforeFetch, when set, is called as the GitRepository handles a request, before
	// it reads Head: another push landing just before Flux fetches.
	BeforeFetch func()
	// SourceMisses is how many GitRepository requests the source controller drops, as
	// a controller backing off after failing (the API server away) ignores a request
	// until a newer one comes.
	SourceMisses int
	// CancelOnNewRevision is kustomize-controller's feature gate of that name: a
	// Kustomization running health checks (see Hangs) when its source moves to a new
	// revision stops with Ready=False, reason HealthCheckCanceled, and goes on to the
	// new revision after CanceledFor (0: at its next step).
	CancelOnNewRevision bool
	CanceledFor         time.Duration

	missed   map[string]bool
	canceled map[string]time.Time
}

// Start runs the controller until the test ends.
func (c *Controller) Start(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			// An API error (the test's interceptors make some) is retried, as the
			// controllers do; any other is a broken test.
			var status apierrors.APIStatus
			if err := c.step(ctx); err != nil && ctx.Err() == nil && !errors.As(err, &status) {
				t.Errorf("fake Flux: %v", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// step handles what is pending once: the sources first, then the Kustomizations.
func (c *Controller) step(ctx context.Context) error {
	repos := &sourcev1.GitRepositoryList{}
	if err := c.Client.List(ctx, repos); err != nil {
		return err
	}
	for i := range repos.Items {
		if err := c.source(ctx, &repos.Items[i]); err != nil {
			return err
		}
	}
	kss := &kustomizev1.KustomizationList{}
	if err := c.Client.List(ctx, kss); err != nil {
		return err
	}
	for i := range kss.Items {
		if err := c.kustomization(ctx, &kss.Items[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) source(ctx context.Context, r *sourcev1.GitRepository) error {
	token := r.Annotations[meta.ReconcileRequestAnnotation]
	if c.NoSource || token == "" || token == r.Status.LastHandledReconcileAt {
		return nil
	}
	if c.missed == nil {
		c.missed = map[string]bool{}
	}
	if c.missed[token] || len(c.missed) < c.SourceMisses {
		c.missed[token] = true
		return nil
	}
	r.Status.LastHandledReconcileAt = token
	r.Status.ObservedGeneration = r.Generation
	if c.SourceFails != "" {
		apimeta.SetStatusCondition(&r.Status.Conditions, ready(metav1.ConditionFalse, "GitOperationFailed", c.SourceFails))
		return c.Client.Update(ctx, r)
	}
	if c.BeforeFetch != nil {
		c.BeforeFetch()
	}
	sha, err := c.Head()
	if err != nil {
		return fmt.Errorf("reading the branch head: %w", err)
	}
	rev := Revision(r.Spec.Reference.Branch, sha)
	r.Status.Artifact = &meta.Artifact{Revision: rev, Path: "gitrepository/" + r.Namespace + "/" + r.Name + "/" + sha + ".tar.gz", LastUpdateTime: metav1.Now()}
	apimeta.SetStatusCondition(&r.Status.Conditions, ready(metav1.ConditionTrue, meta.SucceededReason, "stored artifact for revision '"+rev+"'"))
	return c.Client.Update(ctx, r)
}

func (c *Controller) kustomization(ctx context.Context, ks *kustomizev1.Kustomization) error {
	if c.NoKustomize {
		return nil
	}
	src := &sourcev1.GitRepository{}
	ns := ks.Spec.SourceRef.Namespace
	if ns == "" {
		ns = ks.Namespace
	}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ks.Spec.SourceRef.Name}, src); err != nil {
		return err
	}
	if src.Status.Artifact == nil {
		return nil
	}
	rev := src.Status.Artifact.Revision
	if cancel, err := c.cancel(ctx, ks, rev); cancel || err != nil {
		return err
	}
	token := ks.Annotations[meta.ReconcileRequestAnnotation]
	requested := token != "" && token != ks.Status.LastHandledReconcileAt
	if !requested && rev == ks.Status.LastAttemptedRevision {
		return nil
	}
	if requested {
		ks.Status.LastHandledReconcileAt = token
	}
	ks.Status.ObservedGeneration = ks.Generation
	for _, d := range ks.Spec.DependsOn {
		dep := &kustomizev1.Kustomization{}
		key := client.ObjectKey{Namespace: d.Namespace, Name: d.Name}
		if key.Namespace == "" {
			key.Namespace = ks.Namespace
		}
		if err := c.Client.Get(ctx, key, dep); err != nil {
			return err
		}
		depReady := apimeta.IsStatusConditionTrue(dep.Status.Conditions, meta.ReadyCondition) && dep.Status.ObservedGeneration == dep.Generation
		if !depReady || dep.Status.LastAppliedRevision != rev {
			cur := apimeta.FindStatusCondition(ks.Status.Conditions, meta.ReadyCondition)
			if !requested && cur != nil && cur.Reason == meta.DependencyNotReadyReason {
				return nil // already said so
			}
			apimeta.SetStatusCondition(&ks.Status.Conditions, ready(metav1.ConditionFalse, meta.DependencyNotReadyReason,
				fmt.Sprintf("dependency '%s' is not ready", key)))
			return c.Client.Update(ctx, ks)
		}
	}
	ks.Status.LastAttemptedRevision = rev
	if c.Hangs != nil && c.Hangs(ks.Name, flux.RevisionCommit(rev)) {
		apimeta.SetStatusCondition(&ks.Status.Conditions, ready(metav1.ConditionUnknown, meta.ProgressingReason, "Running health checks for revision "+rev))
		return c.Client.Update(ctx, ks)
	}
	if msg := c.fails(ks.Name, rev); msg != "" {
		apimeta.SetStatusCondition(&ks.Status.Conditions, ready(metav1.ConditionFalse, meta.HealthCheckFailedReason, msg))
		return c.Client.Update(ctx, ks)
	}
	ks.Status.LastAppliedRevision = rev
	apimeta.SetStatusCondition(&ks.Status.Conditions, ready(metav1.ConditionTrue, meta.ReconciliationSucceededReason, "Applied revision: "+rev))
	return c.Client.Update(ctx, ks)
}

func (c *Controller) fails(name, rev string) string {
	if c.Fails == nil {
		return ""
	}
	return c.Fails(name, flux.RevisionCommit(rev))
}

// cancel is CancelOnNewRevision: it cancels the health checks of a Kustomization
// progressing on an older revision than rev, and holds it cancelled for CanceledFor.
func (c *Controller) cancel(ctx context.Context, ks *kustomizev1.Kustomization, rev string) (bool, error) {
	if !c.CancelOnNewRevision {
		return false, nil
	}
	if c.canceled == nil {
		c.canceled = map[string]time.Time{}
	}
	if at, ok := c.canceled[ks.Name]; ok && time.Since(at) < c.CanceledFor {
		return true, nil
	}
	cur := apimeta.FindStatusCondition(ks.Status.Conditions, meta.ReadyCondition)
	if cur == nil || cur.Reason != meta.ProgressingReason || ks.Status.LastAttemptedRevision == rev {
		return false, nil
	}
	c.canceled[ks.Name] = time.Now()
	apimeta.SetStatusCondition(&ks.Status.Conditions, ready(metav1.ConditionFalse, meta.HealthCheckCanceledReason,
		"New reconciliation triggered by GitRepository/"+ks.Namespace+"/"+ks.Spec.SourceRef.Name))
	return true, c.Client.Update(ctx, ks)
}

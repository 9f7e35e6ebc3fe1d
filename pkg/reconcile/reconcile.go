// Package reconcile makes Flux act on a pushed commit at once instead of at its next
// interval, and follows it until the target has applied the commit and is healthy.
// It walks the target's dependsOn chain and asks each Kustomization to reconcile as
// soon as its own dependencies are ready on the new revision, which saves the 30 s
// dependency requeue that `flux reconcile --with-source` leaves in place.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	gitrepo "github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Progress receives one human line per step (Flux CLI style, without the symbol).
type Progress interface {
	Doing(format string, args ...any)
	Done(format string, args ...any)
	Waiting(format string, args ...any)
}

// Options says how far to follow the target.
type Options struct {
	// Wait follows the target until it applied the commit and is Ready, walking the
	// dependsOn chain. Without it, the GitRepository and the target are annotated
	// and Flux's own requeue does the rest.
	Wait     bool
	Progress Progress
}

// FailedError says Flux reported failure for the commit (the exit-4 path).
type FailedError struct {
	Object, Reason, Message string
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("%s failed: %s: %s", e.Object, e.Reason, e.Message)
}

// Annotate writes reconcile.fluxcd.io/requestedAt=token on obj with a merge patch.
func Annotate(ctx context.Context, cluster *flux.Cluster, obj client.Object, token string) error {
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[meta.ReconcileRequestAnnotation] = token
	obj.SetAnnotations(ann)
	if err := cluster.Client.Patch(ctx, obj, patch); err != nil {
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		res := "kustomizations.kustomize.toolkit.fluxcd.io"
		if _, ok := obj.(*sourcev1.GitRepository); ok {
			res, kind = "gitrepositories.source.toolkit.fluxcd.io", "GitRepository"
		}
		_ = kind
		return flux.APIError(err, "patch", res, obj.GetNamespace()+"/"+obj.GetName(), cluster.Context)
	}
	return nil
}

// Run asks Flux to fetch the commit and apply it to env, and with Options.Wait follows
// it. ctx bounds the whole wait (the caller's --timeout).
func Run(ctx context.Context, env *flux.Environment, commit string, o Options) (*v1alpha1.ReconcileOutcome, error) {
	start := time.Now()
	token := start.UTC().Format(time.RFC3339Nano)
	out := &v1alpha1.ReconcileOutcome{RequestedAt: token}
	defer func() { out.Seconds = time.Since(start).Seconds() }()
	cl := env.Cluster
	repo := env.Source.DeepCopy()
	if err := Annotate(ctx, cl, repo, token); err != nil {
		return out, err
	}
	out.Annotated = append(out.Annotated, "GitRepository/"+repo.Namespace+"/"+repo.Name)
	o.Progress.Doing("annotating GitRepository %s/%s and waiting for revision %s", repo.Namespace, repo.Name, gitrepo.ShortSHA(flux.RevisionCommit(commit)))

	w := watcher{cluster: cl}
	if err := w.until(ctx, &sourcev1.GitRepositoryList{}, repo.Namespace, func() (bool, error) {
		if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(repo), repo); err != nil {
			return false, err
		}
		if repo.Status.Artifact != nil && flux.SameRevision(repo.Status.Artifact.Revision, commit) {
			return true, nil
		}
		if repo.Status.LastHandledReconcileAt == token {
			if c := flux.Condition(repo.Status.Conditions, meta.ReadyCondition); c != nil && c.Status == metav1.ConditionFalse {
				return false, &FailedError{Object: "GitRepository/" + repo.Namespace + "/" + repo.Name, Reason: c.Reason, Message: c.Message}
			}
		}
		return false, nil
	}); err != nil {
		return out, waitErr(err, "GitRepository "+repo.Namespace+"/"+repo.Name+" to fetch "+gitrepo.ShortSHA(flux.RevisionCommit(commit)))
	}
	out.SourceRevision = repo.Status.Artifact.Revision
	o.Progress.Done("GitRepository %s/%s fetched %s", repo.Namespace, repo.Name, repo.Status.Artifact.Revision)

	target := env.Kustomization.DeepCopy()
	if !o.Wait {
		if err := Annotate(ctx, cl, target, token); err != nil {
			return out, err
		}
		out.Annotated = append(out.Annotated, "Kustomization/"+target.Namespace+"/"+target.Name)
		o.Progress.Done("Kustomization %s/%s annotated", target.Namespace, target.Name)
		return out, nil
	}

	chain, err := flux.DependsOnChain(ctx, cl, target)
	if err != nil {
		return out, err
	}
	// A Kustomization without dependsOn reconciles by itself when its source moves;
	// asking it again would restart it and make its dependents see it not Ready, and
	// wait out kustomize-controller's 30 s dependency requeue. Those with dependsOn
	// are asked as soon as their dependencies are ready on the new revision, and the
	// target always is.
	for _, ks := range append(chain, target) {
		if len(ks.Spec.DependsOn) == 0 && ks != target {
			continue
		}
		if len(ks.Spec.DependsOn) > 0 {
			o.Progress.Waiting("waiting for the dependencies of Kustomization %s/%s", ks.Namespace, ks.Name)
			if err := w.until(ctx, &kustomizev1.KustomizationList{}, ks.Namespace, func() (bool, error) {
				return dependenciesReady(ctx, cl, ks, repo)
			}); err != nil {
				return out, waitErr(err, "the dependencies of Kustomization "+ks.Namespace+"/"+ks.Name)
			}
		}
		if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(ks), ks); err != nil {
			return out, flux.APIError(err, "get", "kustomizations.kustomize.toolkit.fluxcd.io", ks.Namespace+"/"+ks.Name, cl.Context)
		}
		if err := Annotate(ctx, cl, ks, token); err != nil {
			return out, err
		}
		out.Annotated = append(out.Annotated, "Kustomization/"+ks.Namespace+"/"+ks.Name)
		o.Progress.Doing("Kustomization %s/%s asked to reconcile", ks.Namespace, ks.Name)
	}

	o.Progress.Waiting("waiting for Kustomization %s/%s to apply %s and become Ready", target.Namespace, target.Name, gitrepo.ShortSHA(flux.RevisionCommit(commit)))
	var last string
	err = w.until(ctx, &kustomizev1.KustomizationList{}, target.Namespace, func() (bool, error) {
		if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(target), target); err != nil {
			return false, err
		}
		ready := flux.Condition(target.Status.Conditions, meta.ReadyCondition)
		if ready != nil && ready.Message != last {
			last = ready.Message
			o.Progress.Waiting("%s: %s", ready.Reason, ready.Message)
		}
		out.AppliedRevision = target.Status.LastAppliedRevision
		if ready != nil {
			out.Message = ready.Message
		}
		return Applied(target, commit)
	})
	if err != nil {
		return out, waitErr(err, "Kustomization "+target.Namespace+"/"+target.Name+" to apply "+gitrepo.ShortSHA(flux.RevisionCommit(commit)))
	}
	out.Ready = true
	o.Progress.Done("Kustomization %s/%s applied revision %s", target.Namespace, target.Name, target.Status.LastAppliedRevision)
	return out, nil
}

// Applied says whether a Kustomization has applied commit and is Ready, or fails
// when Flux reported failure for that commit: Stalled, or Ready=False for its current
// generation after attempting the commit for a reason other than waiting for its
// dependencies (which Flux retries by itself).
func Applied(ks *kustomizev1.Kustomization, commit string) (bool, error) {
	if ok, _ := flux.Ready(ks); ok && flux.SameRevision(ks.Status.LastAppliedRevision, commit) {
		return true, nil
	}
	object := "Kustomization/" + ks.Namespace + "/" + ks.Name
	if stalled, msg := flux.Stalled(ks.Status.Conditions); stalled {
		return false, &FailedError{Object: object, Reason: "Stalled", Message: msg}
	}
	ready := flux.Condition(ks.Status.Conditions, meta.ReadyCondition)
	if ready != nil && ready.Status == metav1.ConditionFalse && ks.Generation == ks.Status.ObservedGeneration &&
		flux.SameRevision(ks.Status.LastAttemptedRevision, commit) && ready.Reason != meta.DependencyNotReadyReason {
		return false, &FailedError{Object: object, Reason: ready.Reason, Message: ready.Message}
	}
	return false, nil
}

func dependenciesReady(ctx context.Context, cl *flux.Cluster, ks *kustomizev1.Kustomization, repo *sourcev1.GitRepository) (bool, error) {
	for _, d := range ks.Spec.DependsOn {
		key := client.ObjectKey{Namespace: d.Namespace, Name: d.Name}
		if key.Namespace == "" {
			key.Namespace = ks.Namespace
		}
		dep := &kustomizev1.Kustomization{}
		if err := cl.Client.Get(ctx, key, dep); err != nil {
			return false, err
		}
		if flux.DependencyReady(dep, ks, repo) != nil {
			if stalled, msg := flux.Stalled(dep.Status.Conditions); stalled {
				return false, &FailedError{Object: "Kustomization/" + key.String(), Reason: "Stalled", Message: msg}
			}
			return false, nil
		}
	}
	return true, nil
}

func waitErr(err error, what string) error {
	var failed *FailedError
	if errors.As(err, &failed) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &TimeoutError{What: what}
	}
	return err
}

// TimeoutError says the wait ran out of --timeout.
type TimeoutError struct{ What string }

func (e *TimeoutError) Error() string {
	return "timed out waiting for " + e.What + "; raise --timeout or check \"flux get kustomizations\""
}

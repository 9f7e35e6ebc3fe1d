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
	"strings"
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

// FailedError says Flux reported failure for the commit (the exit-4 path).
type FailedError struct {
	Object, Reason, Message string
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("%s failed: %s: %s", e.Object, e.Reason, e.Message)
}

// FailureReason is why a follow failed, short enough for a commit status (140
// characters on GitHub): what Flux or the verification reported (a FailedError's
// reason and message), without the commit and revision the status already sits on.
func FailureReason(err error) string {
	var failed *FailedError
	if errors.As(err, &failed) {
		return failed.Reason + ": " + failed.Message
	}
	return err.Error()
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
		res := "kustomizations.kustomize.toolkit.fluxcd.io"
		switch obj.(type) {
		case *sourcev1.GitRepository:
			res = "gitrepositories.source.toolkit.fluxcd.io"
		case *sourcev1.OCIRepository:
			res = "ocirepositories.source.toolkit.fluxcd.io"
		}
		return flux.APIError(err, "patch", res, obj.GetNamespace()+"/"+obj.GetName(), cluster.Context)
	}
	return nil
}

// Options says how far to follow the target.
type Options struct {
	// Wait follows the target until it applied the commit and is Ready, walking the
	// dependsOn chain. Without it, Follow returns at once: the annotations already
	// made Flux act.
	Wait     bool
	Progress Progress
	// Contains says whether a revision Flux reports (branch@sha1:SHA) contains the
	// commit: another promotion may land on top of ours before Flux fetches, and Flux
	// then applies both at once. nil accepts the commit itself only.
	Contains func(ctx context.Context, revision string) (bool, error)
	// StuckAfter is how long an object may leave a reconcile request unhandled before
	// the wait says its controller may not be running; 0 means DefaultStuckAfter.
	StuckAfter time.Duration
	// Via, when set, is a Kustomization that must apply a commit of its own before
	// the target's source can fetch the target's: the manifest commit that pins the
	// target's GitRepository to a new tag. Follow walks it first.
	Via *Via
}

// Via is a step before the target: Env's Kustomization (with its GitRepository)
// applying Commit, announced as Out says.
type Via struct {
	Env      *flux.Environment
	Commit   string
	Out      *v1alpha1.ReconcileOutcome
	Contains func(ctx context.Context, revision string) (bool, error)
}

// DefaultStuckAfter is how long a Flux object may ignore a reconcile request before
// the wait warns that its controller may not be running.
const DefaultStuckAfter = 20 * time.Second

// Announce asks Flux to act on a pushed commit now: it writes
// reconcile.fluxcd.io/requestedAt on the target's GitRepository, then on its
// Kustomization. Once it returns without error the promotion is announced: Flux
// fetches and applies the commit even if nobody waits for it.
func Announce(ctx context.Context, env *flux.Environment) (*v1alpha1.ReconcileOutcome, error) {
	return AnnounceAt(ctx, env, time.Now().UTC().Format(time.RFC3339Nano), false)
}

// AnnounceAt is Announce with the token given. With sourceDone the caller has
// already annotated the GitRepository with token (the targets of a fleet wave that
// read one GitRepository have it annotated once, so that source-controller handles
// one request, the one every target's Follow then waits for): only the
// Kustomization is annotated, the GitRepository is still listed in Annotated.
func AnnounceAt(ctx context.Context, env *flux.Environment, token string, sourceDone bool) (*v1alpha1.ReconcileOutcome, error) {
	out := &v1alpha1.ReconcileOutcome{RequestedAt: token}
	for i, obj := range []client.Object{env.SourceObject().DeepCopyObject().(client.Object), env.Kustomization.DeepCopy()} {
		if i > 0 || !sourceDone {
			if err := Annotate(ctx, env.Cluster, obj, token); err != nil {
				return out, err
			}
		}
		out.Annotated = append(out.Annotated, kindOf(obj)+"/"+obj.GetNamespace()+"/"+obj.GetName())
	}
	return out, nil
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *sourcev1.GitRepository:
		return sourcev1.GitRepositoryKind
	case *sourcev1.OCIRepository:
		return sourcev1.OCIRepositoryKind
	}
	return kustomizev1.KustomizationKind
}

// source is the Flux source a target reads, a GitRepository or an OCIRepository,
// as the wait reads it.
type source interface {
	client.Object
	GetArtifact() *meta.Artifact
	GetConditions() []metav1.Condition
}

// sourceOf is env's source, a copy, with its kind's list type and its kind.
func sourceOf(env *flux.Environment) (source, client.ObjectList, string) {
	if env.OCISource != nil {
		return env.OCISource.DeepCopy(), &sourcev1.OCIRepositoryList{}, sourcev1.OCIRepositoryKind
	}
	return env.Source.DeepCopy(), &sourcev1.GitRepositoryList{}, sourcev1.GitRepositoryKind
}

// lastHandled is the reconcile request src last handled.
func lastHandled(src source) string {
	switch s := src.(type) {
	case *sourcev1.OCIRepository:
		return s.Status.LastHandledReconcileAt
	case *sourcev1.GitRepository:
		return s.Status.LastHandledReconcileAt
	}
	return ""
}

// revisionOf is src's artifact revision, "" without one.
func revisionOf(src source) string {
	if a := src.GetArtifact(); a != nil {
		return a.Revision
	}
	return ""
}

// Follow waits, with Options.Wait, for the target's GitRepository to fetch a revision
// that contains commit, walks the target's dependsOn chain asking each Kustomization
// to reconcile as soon as its own dependencies are ready on that revision, and waits
// for the target to apply it and become Ready. It records what it saw in out. ctx
// bounds the wait (the caller's --timeout): on its deadline the error is a
// *TimeoutError saying what was awaited and, when a controller ignored our request,
// that it may not be running. Flux reporting failure is a *FailedError.
func Follow(ctx context.Context, env *flux.Environment, commit string, out *v1alpha1.ReconcileOutcome, o Options) error {
	if !o.Wait {
		return nil
	}
	if o.StuckAfter <= 0 {
		o.StuckAfter = DefaultStuckAfter
	}
	contains := o.Contains
	if contains == nil {
		contains = func(_ context.Context, rev string) (bool, error) { return flux.SameRevision(rev, commit), nil }
	}
	start := time.Now()
	defer func() { out.Seconds += time.Since(start).Seconds() }()
	if v := o.Via; v != nil {
		// The Kustomization that applies the target GitRepository's manifest first:
		// its source fetches the manifest commit, it applies it, and only then does
		// the target's GitRepository read the new tag.
		vo := o
		vo.Via, vo.Contains = nil, v.Contains
		if err := Follow(ctx, v.Env, v.Commit, v.Out, vo); err != nil {
			return err
		}
	}
	f := &follower{env: env, commit: commit, out: out, o: o, contains: contains, w: &watcher{cluster: env.Cluster}}
	f.w.recovered = f.reannounce
	if err := f.source(ctx); err != nil {
		return err
	}
	if err := f.chain(ctx); err != nil {
		return err
	}
	return f.target(ctx)
}

// follower is one Follow: the phases of the wait and what they share.
type follower struct {
	env      *flux.Environment
	commit   string
	out      *v1alpha1.ReconcileOutcome
	o        Options
	contains func(context.Context, string) (bool, error)
	w        *watcher
	repo     source
	// followed is the newer revision containing the commit that the wait follows
	// since a health check of the commit was cancelled for it.
	followed string
}

// reannounce asks Flux again, with a new token, once the API server answers after
// being unreachable: while it was away every reconcile of Flux's controllers failed,
// and their workqueues back each failed object off exponentially (up to 15 minutes by
// default), so without a new request Flux may resume only minutes later. A new
// request is an event, which a controller handles at once. Failing to write it is no
// worse than not asking: the wait goes on either way.
func (f *follower) reannounce(ctx context.Context) {
	again, err := AnnounceAt(ctx, f.env, time.Now().UTC().Format(time.RFC3339Nano), false)
	if err != nil {
		return
	}
	f.out.RequestedAt = again.RequestedAt
	f.o.Progress.Doing("the API server answers again: asked Flux to reconcile %s again (its controllers back off after failing while it was away)", strings.Join(again.Annotated, ", "))
}

func (f *follower) short() string { return gitrepo.ShortSHA(flux.RevisionCommit(f.commit)) }

// stuck tells, once, that obj has not handled the request token after StuckAfter.
type stuck struct {
	since      time.Time
	after      time.Duration
	warned     bool
	controller string
	// unhandled is whether the last check saw the request unhandled; busy, the
	// object's Reconciling message when the controller was at work on it.
	unhandled bool
	busy      string
}

// check notes whether obj (what) has handled the request token. A controller
// records the request only when a reconcile ends: an object it is reconciling
// (Reconciling=True: applying, running health checks) has the request pending
// behind that work, which says the controller runs, not that it is down.
func (s *stuck) check(p Progress, what, handled, token string, conditions []metav1.Condition) {
	s.unhandled = handled != token
	s.busy = ""
	if c := flux.Condition(conditions, meta.ReconcilingCondition); s.unhandled && c != nil && c.Status == metav1.ConditionTrue {
		s.unhandled, s.busy = false, c.Message
	}
	if s.warned || !s.unhandled || time.Since(s.since) < s.after {
		return
	}
	s.warned = true
	p.Waiting("%s has not handled the reconcile request after %s: is %s running?", what, s.after.Round(time.Second), s.controller)
}

// checkIdle tells, once, that idle (a Kustomization, or "") has not started on the
// new revision after StuckAfter.
func (s *stuck) checkIdle(p Progress, idle string) {
	if s.warned || idle == "" || time.Since(s.since) < s.after {
		return
	}
	s.unhandled = true
	s.warned = true
	p.Waiting("%s has not started on the new revision after %s: is %s running?", idle, s.after.Round(time.Second), s.controller)
}

// hint is for the timeout message: the request was still unhandled at the last check
// and StuckAfter has passed (the wait may have ended before a check came late enough
// to warn, events being all it wakes on besides the resync).
func (s *stuck) hint() string {
	if s.busy != "" {
		h := "; " + s.controller + " was still reconciling it (" + s.busy + ")"
		if s.warned {
			// Something also never started on the new revision: a controller stopped
			// mid-reconcile leaves the same Reconciling condition behind.
			h += ", but did not start on the new revision after " + s.after.Round(time.Second).String() + ": is " + s.controller + " running?"
		}
		return h
	}
	if !s.warned && (!s.unhandled || time.Since(s.since) < s.after) {
		return ""
	}
	return "; it never handled the reconcile request: is " + s.controller + " running?"
}

// source waits for the target's source (GitRepository or OCIRepository) to reach a
// revision containing the commit.
func (f *follower) source(ctx context.Context) error {
	cl := f.env.Cluster
	repo, list, kind := sourceOf(f.env)
	f.repo = repo
	what := kind + " " + repo.GetNamespace() + "/" + repo.GetName()
	f.o.Progress.Waiting("waiting for %s to fetch revision %s", what, f.short())
	st := &stuck{since: time.Now(), after: f.o.StuckAfter, controller: "source-controller"}
	err := f.w.until(ctx, list, repo.DeepCopyObject(), repo.GetNamespace(), func(ctx context.Context) (bool, error) {
		if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(repo), repo); err != nil {
			return false, err
		}
		if rev := revisionOf(repo); rev != "" {
			ok, err := f.contains(ctx, rev)
			if err != nil || ok {
				return ok, err
			}
		}
		st.check(f.o.Progress, what, lastHandled(repo), f.out.RequestedAt, repo.GetConditions())
		if lastHandled(repo) == f.out.RequestedAt {
			if c := sourceFailed(repo.GetConditions()); c != nil {
				return false, &FailedError{Object: kind + "/" + repo.GetNamespace() + "/" + repo.GetName(), Reason: c.Reason, Message: c.Message}
			}
		}
		return false, nil
	})
	if err != nil {
		return f.waitErr(err, what+" to fetch "+f.short(), st.hint())
	}
	f.out.SourceRevision = revisionOf(repo)
	f.o.Progress.Done("%s fetched %s", what, f.out.SourceRevision)
	return nil
}

// sourceFailed returns a source's Ready condition when it says the source failed,
// nil while it is Ready, unknown, or only behind. source-controller summarises Ready
// from its negative conditions, its failures (StorageOperationFailed, FetchFailed,
// IncludeUnavailable) first, then ArtifactOutdated. An attempt that fetched a new
// revision and then ended on something passing, such as a status patch to an API
// server that had gone, leaves Ready=False with ArtifactOutdated's reason
// (NewRevision, IncludeChange) and is retried: that is a source still at work, not
// a failed one, unless its verification failed too (SourceVerified=False ranks
// after ArtifactOutdated).
func sourceFailed(conditions []metav1.Condition) *metav1.Condition {
	ready := flux.Condition(conditions, meta.ReadyCondition)
	if ready == nil || ready.Status != metav1.ConditionFalse {
		return nil
	}
	outdated := flux.Condition(conditions, sourcev1.ArtifactOutdatedCondition)
	verified := flux.Condition(conditions, sourcev1.SourceVerifiedCondition)
	if outdated != nil && outdated.Status == metav1.ConditionTrue && ready.Reason == outdated.Reason &&
		(verified == nil || verified.Status != metav1.ConditionFalse) {
		return nil
	}
	return ready
}

// chain asks each Kustomization of the target's dependsOn chain that has dependencies
// of its own, and the target, to reconcile as soon as those dependencies are ready on
// the new revision. A Kustomization without dependsOn reconciles by itself when its
// source moves; asking it again would restart it and make its dependents see it not
// Ready, and wait out kustomize-controller's 30 s dependency requeue.
func (f *follower) chain(ctx context.Context) error {
	cl := f.env.Cluster
	target := f.env.Kustomization.DeepCopy()
	chain, err := flux.DependsOnChain(ctx, cl, target)
	if err != nil {
		return err
	}
	// kustomize-controller handles the target's announced request even while its
	// dependencies are not ready (it records it and reports DependencyNotReady): a
	// request left unhandled says the controller is not running.
	what := "Kustomization " + target.Namespace + "/" + target.Name
	st := &stuck{since: time.Now(), after: f.o.StuckAfter, controller: "kustomize-controller"}
	for _, ks := range append(chain, target) {
		if len(ks.Spec.DependsOn) == 0 {
			continue
		}
		f.o.Progress.Waiting("waiting for the dependencies of Kustomization %s/%s", ks.Namespace, ks.Name)
		if err := f.w.until(ctx, &kustomizev1.KustomizationList{}, &kustomizev1.Kustomization{}, ks.Namespace, func(ctx context.Context) (bool, error) {
			// kustomize-controller wants a dependency applied at the source's current
			// artifact, which later pushes move on past the one source() saw (a
			// descendant of the commit): compare against it, not a snapshot.
			if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(f.repo), f.repo); err != nil {
				return false, err
			}
			ready, idle, err := dependenciesReady(ctx, cl, ks, f.repo)
			if ready || err != nil {
				return ready, err
			}
			st.checkIdle(f.o.Progress, idle)
			cur := &kustomizev1.Kustomization{}
			if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(target), cur); err != nil {
				return false, err
			}
			// The latest request to the target: reannounce may have written a newer one.
			st.check(f.o.Progress, what, cur.Status.LastHandledReconcileAt, f.out.RequestedAt, cur.Status.Conditions)
			return false, nil
		}); err != nil {
			return f.waitErr(err, "the dependencies of Kustomization "+ks.Namespace+"/"+ks.Name, st.hint())
		}
		if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(ks), ks); err != nil {
			return flux.APIError(err, "get", "kustomizations.kustomize.toolkit.fluxcd.io", ks.Namespace+"/"+ks.Name, cl.Context)
		}
		if ready, _ := flux.Ready(ks); ready && revisionOf(f.repo) != "" && flux.SameRevision(ks.Status.LastAppliedRevision, revisionOf(f.repo)) {
			// The source's move already made it apply the new revision: asking again
			// would only start a reconcile that shows it Progressing after the wait.
			continue
		}
		token := time.Now().UTC().Format(time.RFC3339Nano)
		if err := Annotate(ctx, cl, ks, token); err != nil {
			return err
		}
		if ks.Name == target.Name && ks.Namespace == target.Namespace {
			f.out.RequestedAt = token
		}
		f.out.Annotated = append(f.out.Annotated, "Kustomization/"+ks.Namespace+"/"+ks.Name)
		f.o.Progress.Doing("Kustomization %s/%s asked to reconcile", ks.Namespace, ks.Name)
	}
	return nil
}

// target waits for the target Kustomization to apply a revision containing the
// commit and become Ready, failing as soon as Flux reports failure for it.
func (f *follower) target(ctx context.Context) error {
	cl := f.env.Cluster
	target := f.env.Kustomization.DeepCopy()
	what := "Kustomization " + target.Namespace + "/" + target.Name
	f.o.Progress.Waiting("waiting for %s to apply %s and become Ready", what, f.short())
	st := &stuck{since: time.Now(), after: f.o.StuckAfter, controller: "kustomize-controller"}
	var last string
	err := f.w.until(ctx, &kustomizev1.KustomizationList{}, &kustomizev1.Kustomization{}, target.Namespace, func(ctx context.Context) (bool, error) {
		if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(target), target); err != nil {
			return false, err
		}
		ready := flux.Condition(target.Status.Conditions, meta.ReadyCondition)
		if ready != nil && ready.Message != last {
			last = ready.Message
			f.o.Progress.Waiting("%s: %s", ready.Reason, ready.Message)
		}
		f.out.AppliedRevision = target.Status.LastAppliedRevision
		if ready != nil {
			f.out.Message = ready.Message
		}
		st.check(f.o.Progress, what, target.Status.LastHandledReconcileAt, f.out.RequestedAt, target.Status.Conditions)
		if err := f.superseded(ctx, target, ready); err != nil {
			return false, err
		}
		return appliedContaining(ctx, target, f.commit, f.contains)
	})
	if err != nil {
		return f.waitErr(err, what+" to apply "+f.short(), st.hint())
	}
	f.out.Ready = true
	f.o.Progress.Done("%s applied revision %s", what, target.Status.LastAppliedRevision)
	return nil
}

// superseded returns a *SupersededError when a newer revision that does not contain
// the commit took the target over: kustomize-controller cancelled the commit's health
// check for it (the CancelHealthCheckOnNewRevision feature gate: Ready=False, reason
// HealthCheckCanceled), or the target moved on to it (a cancellation the wait did not
// see). A newer revision that contains the commit is followed instead: the wait goes
// on until the target is Ready on it.
func (f *follower) superseded(ctx context.Context, target *kustomizev1.Kustomization, ready *metav1.Condition) error {
	canceled := ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == meta.HealthCheckCanceledReason
	attempted := target.Status.LastAttemptedRevision
	if !canceled && (attempted == "" || flux.SameRevision(attempted, f.out.SourceRevision)) {
		return nil
	}
	if err := f.env.Cluster.Client.Get(ctx, client.ObjectKeyFromObject(f.repo), f.repo); err != nil {
		return err
	}
	newer := revisionOf(f.repo)
	if newer == "" {
		return nil
	}
	if !canceled && !flux.SameRevision(attempted, newer) {
		return nil // not yet at the newer revision: an older attempt, or ours to come
	}
	ok, err := f.contains(ctx, newer)
	if err != nil {
		return err
	}
	if ok {
		// (The commit's own revision cancelling an older one's check is no news.)
		if canceled && f.followed != newer && !flux.SameRevision(newer, f.commit) {
			f.followed = newer
			f.o.Progress.Waiting("a newer revision %s cancelled the health check; it contains %s: following it", newer, f.short())
		}
		return nil
	}
	if canceled || !flux.SameRevision(attempted, f.commit) {
		f.out.SupersededBy = newer
		return &SupersededError{Object: "Kustomization/" + target.Namespace + "/" + target.Name, Commit: f.commit, By: newer}
	}
	return nil
}

func (f *follower) waitErr(err error, what, hint string) error {
	var failed *FailedError
	var superseded *SupersededError
	if errors.As(err, &failed) || errors.As(err, &superseded) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		te := &TimeoutError{What: what, Hint: hint}
		if f.w.lastErr != nil {
			te.LastError = f.w.lastErr.Error()
		}
		return te
	}
	return err
}

// appliedContaining is Applied for a commit that a later revision may contain.
func appliedContaining(ctx context.Context, ks *kustomizev1.Kustomization, commit string, contains func(context.Context, string) (bool, error)) (bool, error) {
	done, err := Applied(ks, commit)
	if done || err != nil {
		return done, err
	}
	if ok, _ := flux.Ready(ks); ok && ks.Status.LastAppliedRevision != "" && !flux.SameRevision(ks.Status.LastAppliedRevision, commit) {
		return contains(ctx, ks.Status.LastAppliedRevision)
	}
	return false, nil
}

// Applied says whether a Kustomization has applied commit and is Ready, or fails
// when Flux reported failure for that commit: Stalled, or Ready=False for its current
// generation after attempting the commit for a reason other than waiting for its
// dependencies (which Flux retries by itself) or a health check cancelled by a newer
// revision (HealthCheckCanceled: Follow tells whether that one contains the commit).
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
		flux.SameRevision(ks.Status.LastAttemptedRevision, commit) && ready.Reason != meta.DependencyNotReadyReason &&
		ready.Reason != meta.HealthCheckCanceledReason {
		return false, &FailedError{Object: object, Reason: ready.Reason, Message: ready.Message}
	}
	return false, nil
}

// dependenciesReady says whether every dependency of ks is ready on repo's revision;
// when not, idle names a dependency that has not even started on that revision (its
// last attempt is an older one and it is not reconciling): kustomize-controller is
// not acting on it.
func dependenciesReady(ctx context.Context, cl *flux.Cluster, ks *kustomizev1.Kustomization, repo source) (ready bool, idle string, err error) {
	revision := revisionOf(repo)
	for _, d := range ks.Spec.DependsOn {
		key := client.ObjectKey{Namespace: d.Namespace, Name: d.Name}
		if key.Namespace == "" {
			key.Namespace = ks.Namespace
		}
		dep := &kustomizev1.Kustomization{}
		if err := cl.Client.Get(ctx, key, dep); err != nil {
			return false, "", err
		}
		if flux.DependencyReadyOn(dep, ks, revision) != nil {
			if stalled, msg := flux.Stalled(dep.Status.Conditions); stalled {
				return false, "", &FailedError{Object: "Kustomization/" + key.String(), Reason: "Stalled", Message: msg}
			}
			reconciling := flux.Condition(dep.Status.Conditions, meta.ReconcilingCondition)
			if revision != "" && !flux.SameRevision(dep.Status.LastAttemptedRevision, revision) &&
				(reconciling == nil || reconciling.Status != metav1.ConditionTrue) {
				idle = "Kustomization " + key.String()
			}
			return false, idle, nil
		}
	}
	return true, "", nil
}

// SupersededError says a newer revision that does not contain the commit took the
// target over before the commit was seen healthy: neither success nor failure (the
// commit is pushed; what runs is the newer revision's), never a reason to roll back.
type SupersededError struct {
	Object, Commit, By string
}

func (e *SupersededError) Error() string {
	return fmt.Sprintf("superseded: %s moved on to %s, which does not contain %s, before %s was seen healthy (its health check cancelled); check \"flux get kustomizations\" for what runs now",
		e.Object, e.By, gitrepo.ShortSHA(flux.RevisionCommit(e.Commit)), gitrepo.ShortSHA(flux.RevisionCommit(e.Commit)))
}

// TimeoutError says the wait ran out of --timeout.
type TimeoutError struct {
	What string
	// Hint says why, when the wait could tell (a controller that never acted).
	Hint string
	// LastError is the last API error the wait retried, if the API server was unreachable.
	LastError string
}

func (e *TimeoutError) Error() string {
	msg := "timed out waiting for " + e.What + e.Hint
	if e.LastError != "" {
		msg += "; last API error: " + e.LastError
	}
	return msg + "; raise --timeout or check \"flux get kustomizations\""
}

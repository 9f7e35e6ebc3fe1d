package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

const (
	oldSHA = "1111111111111111111111111111111111111111"
	newSHA = "2222222222222222222222222222222222222222"
)

// production is the seed's production environment on a fake cluster, Flux having
// applied oldSHA; its apps Kustomization dependsOn infrastructure.
func production(t *testing.T, o fakeflux.Options) *flux.Environment {
	t.Helper()
	o.Context, o.Env, o.Applied = "production", "production", oldSHA
	if o.URL == "" {
		o.URL = "http://127.0.0.1:1/fleet.git"
	}
	cl := fakeflux.NewCluster(t, o)
	env, err := flux.LoadFrom(context.Background(), cl, flux.RefSpec{Ref: flux.Ref{Namespace: fakeflux.Namespace, Name: "apps"}})
	require.NoError(t, err)
	return env
}

func startFlux(t *testing.T, env *flux.Environment, c fakeflux.Controller) {
	t.Helper()
	c.Client = env.Cluster.Client
	if c.Head == nil {
		c.Head = func() (string, error) { return newSHA, nil }
	}
	c.Start(t)
}

func kustomization(t *testing.T, env *flux.Environment, name string) *kustomizev1.Kustomization {
	t.Helper()
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, env.Cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: fakeflux.Namespace, Name: name}, ks))
	return ks
}

// Run announces the commit on the GitRepository and the Kustomization, follows the
// source to the commit, asks the target to reconcile once its dependency applied it
// (and never the dependency, which reconciles by itself) unless it already applied
// it, and ends Ready.
func TestRunFollowsTheDependsOnChainToReady(t *testing.T) {
	env := production(t, fakeflux.Options{})
	startFlux(t, env, fakeflux.Controller{})
	p := &fakeflux.Progress{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	out, err := run(ctx, env, newSHA, Options{Wait: true, Progress: p})
	require.NoError(t, err, p.String())
	require.True(t, out.Ready)
	require.Equal(t, "main@sha1:"+newSHA, out.SourceRevision)
	require.Equal(t, "main@sha1:"+newSHA, out.AppliedRevision)
	require.Equal(t, []string{"GitRepository/flux-system/flux-system", "Kustomization/flux-system/apps"}, out.Annotated[:2], "announced on the source and the target")
	// Then the target is asked again once its dependency is ready, unless the
	// source's move already made it apply the commit.
	require.LessOrEqual(t, len(out.Annotated), 3)
	if len(out.Annotated) == 3 {
		require.Equal(t, "Kustomization/flux-system/apps", out.Annotated[2])
	}
	require.Positive(t, out.Seconds)

	apps := kustomization(t, env, "apps")
	require.Equal(t, out.RequestedAt, apps.Annotations[meta.ReconcileRequestAnnotation], "the result records the target's last request")
	require.Equal(t, out.RequestedAt, apps.Status.LastHandledReconcileAt)
	infra := kustomization(t, env, "infrastructure")
	require.NotContains(t, infra.Annotations, meta.ReconcileRequestAnnotation, "a Kustomization without dependsOn is never asked: it reconciles when its source moves")
	require.Equal(t, "main@sha1:"+newSHA, infra.Status.LastAppliedRevision)
	require.Contains(t, p.String(), "done: GitRepository flux-system/flux-system fetched main@sha1:"+newSHA)
	require.Contains(t, p.String(), "done: Kustomization flux-system/apps applied revision main@sha1:"+newSHA)
}

// Without Wait, Run only writes the annotations and returns.
func TestRunWithoutWaitOnlyAnnotates(t *testing.T) {
	env := production(t, fakeflux.Options{})
	out, err := run(context.Background(), env, newSHA, Options{Progress: &fakeflux.Progress{}})
	require.NoError(t, err)
	require.False(t, out.Ready)
	require.NotEmpty(t, out.RequestedAt)
	repo := &sourcev1.GitRepository{}
	require.NoError(t, env.Cluster.Client.Get(context.Background(), client.ObjectKeyFromObject(env.Source), repo))
	require.Equal(t, out.RequestedAt, repo.Annotations[meta.ReconcileRequestAnnotation])
	require.Equal(t, out.RequestedAt, kustomization(t, env, "apps").Annotations[meta.ReconcileRequestAnnotation])
	require.Equal(t, "main@sha1:"+oldSHA, repo.Status.Artifact.Revision, "nothing else changed")
}

// A refused annotation is a ForbiddenError naming the verb, the resource and the context.
func TestAnnounceForbidden(t *testing.T) {
	env := production(t, fakeflux.Options{Funcs: interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*kustomizev1.Kustomization); ok {
				return apierrors.NewForbidden(schema.GroupResource{Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"}, obj.GetName(), errors.New("RBAC"))
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	}})
	out, err := Announce(context.Background(), env)
	var forbidden *flux.ForbiddenError
	require.True(t, errors.As(err, &forbidden), "%v", err)
	require.Equal(t, "patch", forbidden.Verb)
	require.Equal(t, "kustomizations.kustomize.toolkit.fluxcd.io", forbidden.Resource)
	require.Equal(t, "flux-system/apps", forbidden.Object)
	require.Equal(t, "production", forbidden.Context)
	require.Equal(t, []string{"GitRepository/flux-system/flux-system"}, out.Annotated, "the source was annotated before the refusal")
}

// Flux failing the target's health checks on the commit ends the wait at once with a
// FailedError carrying Flux's reason and message.
func TestFollowFailsWhenTheTargetFailsHealth(t *testing.T) {
	env := production(t, fakeflux.Options{})
	startFlux(t, env, fakeflux.Controller{Fails: func(name, sha string) string {
		if name == "apps" && sha == newSHA {
			return "Deployment/production/my-app status: 'Failed'"
		}
		return ""
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := run(ctx, env, newSHA, Options{Wait: true, Progress: &fakeflux.Progress{}})
	var failed *FailedError
	require.True(t, errors.As(err, &failed), "%v", err)
	require.Equal(t, "Kustomization/flux-system/apps", failed.Object)
	require.Equal(t, meta.HealthCheckFailedReason, failed.Reason)
	require.Contains(t, failed.Message, "my-app")
	require.Less(t, time.Since(start), 15*time.Second, "a failure ends the wait, it does not run out the timeout")
}

// The GitRepository failing the fetch it was asked for is a FailedError on the source.
func TestFollowFailsWhenTheSourceFails(t *testing.T) {
	env := production(t, fakeflux.Options{})
	startFlux(t, env, fakeflux.Controller{SourceFails: "authentication required"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := run(ctx, env, newSHA, Options{Wait: true, Progress: &fakeflux.Progress{}})
	var failed *FailedError
	require.True(t, errors.As(err, &failed), "%v", err)
	require.Equal(t, "GitRepository/flux-system/flux-system", failed.Object)
	require.Equal(t, "GitOperationFailed", failed.Reason)
	require.Equal(t, "authentication required", failed.Message)
}

// A Stalled dependency fails the wait on the chain instead of waiting it out.
func TestFollowFailsOnAStalledDependency(t *testing.T) {
	env := production(t, fakeflux.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	infra := kustomization(t, env, "infrastructure")
	infra.Status.Conditions = append(infra.Status.Conditions, metaCondition(meta.StalledCondition, "InvalidPath", "path not found"))
	require.NoError(t, env.Cluster.Client.Update(ctx, infra))
	startFlux(t, env, fakeflux.Controller{NoKustomize: true})
	_, err := run(ctx, env, newSHA, Options{Wait: true, Progress: &fakeflux.Progress{}})
	var failed *FailedError
	require.True(t, errors.As(err, &failed), "%v", err)
	require.Equal(t, "Kustomization/flux-system/infrastructure", failed.Object)
	require.Equal(t, "Stalled", failed.Reason)
}

// While kustomize-controller runs a health check on the target it records no
// request (it does at the end of the reconcile): the wait does not ask whether the
// controller runs, and the timeout says what it was busy with.
func TestBusyControllerIsNotCalledDown(t *testing.T) {
	env := production(t, fakeflux.Options{})
	env.Kustomization = kustomization(t, env, "infrastructure")
	env.Kustomization.Status.Conditions = append(env.Kustomization.Status.Conditions,
		metaCondition(meta.ReconcilingCondition, meta.ProgressingReason, "Running health checks for revision main@sha1:"+newSHA))
	require.NoError(t, env.Cluster.Client.Update(context.Background(), env.Kustomization))
	startFlux(t, env, fakeflux.Controller{NoKustomize: true})
	p := &fakeflux.Progress{}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := run(ctx, env, newSHA, Options{Wait: true, Progress: p, StuckAfter: 300 * time.Millisecond})
	var timeout *TimeoutError
	require.True(t, errors.As(err, &timeout), "%v", err)
	require.NotContains(t, err.Error()+p.String(), "is kustomize-controller running?")
	require.Contains(t, err.Error(), "kustomize-controller was still reconciling it (Running health checks")
}

// When kustomize-controller never handles the request, the timeout says so, whichever
// phase the wait was in: the target's dependencies (the seed's apps dependsOn
// infrastructure) or the target itself.
func TestTimeoutAsksWhetherKustomizeControllerRuns(t *testing.T) {
	for _, target := range []string{"apps", "infrastructure"} {
		t.Run(target, func(t *testing.T) {
			env := production(t, fakeflux.Options{})
			env.Kustomization = kustomization(t, env, target)
			startFlux(t, env, fakeflux.Controller{NoKustomize: true})
			p := &fakeflux.Progress{}
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			_, err := run(ctx, env, newSHA, Options{Wait: true, Progress: p, StuckAfter: 300 * time.Millisecond})
			var timeout *TimeoutError
			require.True(t, errors.As(err, &timeout), "%v", err)
			require.Contains(t, err.Error(), "is kustomize-controller running?")
			require.Contains(t, err.Error(), "raise --timeout")
		})
	}
}

// When source-controller never handles the request, the timeout names it.
func TestTimeoutAsksWhetherSourceControllerRuns(t *testing.T) {
	env := production(t, fakeflux.Options{})
	startFlux(t, env, fakeflux.Controller{NoSource: true})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := run(ctx, env, newSHA, Options{Wait: true, Progress: &fakeflux.Progress{}, StuckAfter: 300 * time.Millisecond})
	var timeout *TimeoutError
	require.True(t, errors.As(err, &timeout), "%v", err)
	require.Equal(t, "GitRepository flux-system/flux-system to fetch 222222222222", timeout.What)
	require.Contains(t, err.Error(), "is source-controller running?")
}

// A controller that handles the request but is slow is not called stuck: no hint.
func TestTimeoutWithoutHintWhenTheRequestWasHandled(t *testing.T) {
	env := production(t, fakeflux.Options{})
	startFlux(t, env, fakeflux.Controller{Head: func() (string, error) { return oldSHA, nil }})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := run(ctx, env, newSHA, Options{Wait: true, Progress: &fakeflux.Progress{}, StuckAfter: 300 * time.Millisecond})
	var timeout *TimeoutError
	require.True(t, errors.As(err, &timeout), "%v", err)
	require.Empty(t, timeout.Hint, "source-controller handled the request (it fetched an older commit)")
	require.NotContains(t, err.Error(), "running?")
}

// An API server that answers 503 for a while is retried; the wait still ends Ready, and
// when it never recovers the timeout carries the last API error.
func TestFollowRetriesAnUnavailableAPIServer(t *testing.T) {
	var failing atomic.Int32
	var downUntil atomic.Int64 // unix nanoseconds
	unavailable := func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if _, ok := obj.(*sourcev1.GitRepository); ok {
			if failing.Load() != 0 {
				failing.Add(-1) // below 0: for ever
				return apierrors.NewServiceUnavailable("etcd leader changed")
			}
			if time.Now().UnixNano() < downUntil.Load() {
				return apierrors.NewServiceUnavailable("etcd leader changed")
			}
		}
		return c.Get(ctx, key, obj, opts...)
	}
	env := production(t, fakeflux.Options{Funcs: interceptor.Funcs{Get: unavailable}})
	downUntil.Store(time.Now().Add(2 * time.Second).UnixNano())
	// source-controller drops the announced request, as it does when backing off
	// after the failures the unreachable server caused; only a new request wakes it.
	startFlux(t, env, fakeflux.Controller{SourceMisses: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := &fakeflux.Progress{}
	out, err := run(ctx, env, newSHA, Options{Wait: true, Progress: p})
	require.NoError(t, err, p.String())
	require.True(t, out.Ready)
	// Once the server answered again, Flux was asked again, and the result records
	// the newer request.
	require.Contains(t, p.String(), "the API server answers again: asked Flux to reconcile GitRepository/flux-system/flux-system, Kustomization/flux-system/apps again")
	repo := &sourcev1.GitRepository{}
	require.NoError(t, env.Cluster.Client.Get(context.Background(), client.ObjectKeyFromObject(env.Source), repo))
	require.Equal(t, repo.Annotations[meta.ReconcileRequestAnnotation], repo.Status.LastHandledReconcileAt)
	require.Equal(t, out.RequestedAt, kustomization(t, env, "apps").Annotations[meta.ReconcileRequestAnnotation])

	env = production(t, fakeflux.Options{Funcs: interceptor.Funcs{Get: unavailable}})
	failing.Store(-1) // for ever
	ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err = run(ctx, env, newSHA, Options{Wait: true, Progress: &fakeflux.Progress{}})
	var timeout *TimeoutError
	require.True(t, errors.As(err, &timeout), "%v", err)
	require.Contains(t, timeout.LastError, "etcd leader changed")
}

// Contains lets the wait accept a later revision that carries the commit, and refuse one that does not.
func TestFollowAcceptsARevisionContainingTheCommit(t *testing.T) {
	const later = "3333333333333333333333333333333333333333"
	for _, tc := range []struct {
		name    string
		carries bool
	}{{"carries", true}, {"does not carry", false}} {
		t.Run(tc.name, func(t *testing.T) {
			env := production(t, fakeflux.Options{})
			startFlux(t, env, fakeflux.Controller{Head: func() (string, error) { return later, nil }})
			var asked []string
			contains := func(_ context.Context, rev string) (bool, error) {
				asked = append(asked, rev)
				return flux.SameRevision(rev, later) && tc.carries, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			out, err := run(ctx, env, newSHA, Options{Wait: true, Progress: &fakeflux.Progress{}, Contains: contains})
			require.Contains(t, asked, "main@sha1:"+later)
			if tc.carries {
				require.NoError(t, err)
				require.Equal(t, "main@sha1:"+later, out.AppliedRevision)
				return
			}
			var timeout *TimeoutError
			require.True(t, errors.As(err, &timeout), "%v", err)
			require.True(t, strings.HasPrefix(timeout.What, "GitRepository flux-system/flux-system to fetch"), timeout.What)
		})
	}
}

func metaCondition(typ, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.Now()}
}

// run announces commit and follows it, as pkg/promote's followUp does.
func run(ctx context.Context, env *flux.Environment, commit string, o Options) (*v1alpha1.ReconcileOutcome, error) {
	out, err := Announce(ctx, env)
	if err == nil {
		err = Follow(ctx, env, commit, out, o)
	}
	return out, err
}

// Defect 1, in the dependency wait: after the source fetched the commit, another
// push lands and the source moves on to a descendant, which the dependency applies
// (kustomize-controller wants it applied at the source's current artifact). The wait
// accepts it instead of waiting for the revision it first saw until --timeout.
func TestDependencyWaitFollowsTheSourceToALaterRevision(t *testing.T) {
	const later = "3333333333333333333333333333333333333333"
	env := production(t, fakeflux.Options{})
	// infrastructure never finishes on the commit itself: only the later push ends it.
	startFlux(t, env, fakeflux.Controller{Hangs: func(name, sha string) bool { return name == "infrastructure" && sha == newSHA }})
	p := &fakeflux.Progress{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil && !strings.Contains(p.String(), "waiting for the dependencies") {
			time.Sleep(10 * time.Millisecond)
		}
		// The later push fetched (by the source's own interval, say).
		repo := &sourcev1.GitRepository{}
		if err := env.Cluster.Client.Get(ctx, client.ObjectKeyFromObject(env.Source), repo); err != nil {
			t.Errorf("get: %v", err)
			return
		}
		repo.Status.Artifact.Revision = fakeflux.Revision("main", later)
		if err := env.Cluster.Client.Update(ctx, repo); err != nil {
			t.Errorf("update: %v", err)
		}
	}()
	contains := func(_ context.Context, rev string) (bool, error) {
		return flux.SameRevision(rev, newSHA) || flux.SameRevision(rev, later), nil
	}
	out, err := run(ctx, env, newSHA, Options{Wait: true, Progress: p, Contains: contains})
	require.NoError(t, err, p.String())
	require.Equal(t, "main@sha1:"+later, out.AppliedRevision)
	require.Equal(t, "main@sha1:"+later, kustomization(t, env, "infrastructure").Status.LastAppliedRevision)
	require.NotContains(t, p.String(), "is kustomize-controller running?")
}

// kustomize-controller's CancelHealthCheckOnNewRevision: a later push lands while the
// target runs the commit's health checks, which are cancelled (Ready=False, reason
// HealthCheckCanceled). When the later revision contains the commit the wait follows
// it to Ready; when it does not, the wait ends at once as superseded: neither a
// failure nor a timeout. Held cancelled for a moment, the wait sees the cancellation;
// not held, it sees the target move on.
func TestFollowSupersededHealthCheck(t *testing.T) {
	const later = "3333333333333333333333333333333333333333"
	for _, tc := range []struct {
		name     string
		contains bool
		held     time.Duration
	}{{"contains, cancellation seen", true, 300 * time.Millisecond}, {"does not contain, cancellation seen", false, 300 * time.Millisecond},
		{"does not contain, moved on", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			env := production(t, fakeflux.Options{})
			var head atomic.Value
			head.Store(newSHA)
			startFlux(t, env, fakeflux.Controller{Head: func() (string, error) { return head.Load().(string), nil },
				Hangs:               func(name, sha string) bool { return name == "apps" && sha == newSHA },
				CancelOnNewRevision: true, CanceledFor: tc.held})
			p := &fakeflux.Progress{}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go func() {
				for ctx.Err() == nil && !strings.Contains(p.String(), "Running health checks for revision main@sha1:"+newSHA) {
					time.Sleep(10 * time.Millisecond)
				}
				// The later push, fetched by the source's own interval.
				head.Store(later)
				repo := &sourcev1.GitRepository{}
				if err := env.Cluster.Client.Get(ctx, client.ObjectKeyFromObject(env.Source), repo); err != nil {
					t.Errorf("get: %v", err)
					return
				}
				repo.Status.Artifact.Revision = fakeflux.Revision("main", later)
				if err := env.Cluster.Client.Update(ctx, repo); err != nil {
					t.Errorf("update: %v", err)
				}
			}()
			contains := func(_ context.Context, rev string) (bool, error) {
				return flux.SameRevision(rev, newSHA) || (tc.contains && flux.SameRevision(rev, later)), nil
			}
			start := time.Now()
			out, err := run(ctx, env, newSHA, Options{Wait: true, Progress: p, Contains: contains})
			if tc.contains {
				require.NoError(t, err, p.String())
				require.Equal(t, "main@sha1:"+later, out.AppliedRevision)
				require.Contains(t, p.String(), "a newer revision main@sha1:"+later+" cancelled the health check; it contains 222222222222: following it")
				require.Empty(t, out.SupersededBy)
				return
			}
			var superseded *SupersededError
			require.ErrorAs(t, err, &superseded, p.String())
			require.Equal(t, "main@sha1:"+later, superseded.By)
			require.Equal(t, "main@sha1:"+later, out.SupersededBy)
			require.False(t, out.Ready)
			var failed *FailedError
			require.False(t, errors.As(err, &failed))
			require.Contains(t, err.Error(), "superseded: Kustomization/flux-system/apps moved on to main@sha1:"+later+", which does not contain 222222222222")
			require.Less(t, time.Since(start), 8*time.Second, "superseded ends the wait, it does not run out the timeout")
		})
	}
}

// HealthCheckCanceled on the commit itself is not a failure.
func TestAppliedIgnoresACancelledHealthCheck(t *testing.T) {
	ks := &kustomizev1.Kustomization{}
	ks.Name, ks.Namespace = "apps", "flux-system"
	ks.Status.LastAttemptedRevision = "main@sha1:" + newSHA
	ks.Status.Conditions = []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionFalse, Reason: meta.HealthCheckCanceledReason, Message: "New reconciliation triggered by GitRepository/flux-system/flux-system"}}
	done, err := Applied(ks, newSHA)
	require.False(t, done)
	require.NoError(t, err)
	ks.Status.Conditions[0].Reason = meta.HealthCheckFailedReason
	_, err = Applied(ks, newSHA)
	require.Error(t, err)
}

// A controller stopped in the middle of a health check leaves Reconciling=True behind:
// when a dependency also never started on the new revision, the timeout asks whether
// the controller runs besides saying what it was last reconciling (the plane's fault
// test: kustomize-controller stopped during a wait).
func TestStoppedMidHealthCheckIsAskedAbout(t *testing.T) {
	env := production(t, fakeflux.Options{})
	env.Kustomization = kustomization(t, env, "apps")
	env.Kustomization.Status.Conditions = append(env.Kustomization.Status.Conditions,
		metaCondition(meta.ReconcilingCondition, meta.ProgressingReason, "Running health checks for revision main@sha1:"+newSHA))
	require.NoError(t, env.Cluster.Client.Update(context.Background(), env.Kustomization))
	startFlux(t, env, fakeflux.Controller{NoKustomize: true})
	p := &fakeflux.Progress{}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := run(ctx, env, newSHA, Options{Wait: true, Progress: p, StuckAfter: time.Nanosecond})
	var timeout *TimeoutError
	require.True(t, errors.As(err, &timeout), "%v", err)
	require.Contains(t, err.Error(), "is kustomize-controller running?", p.String())
}

// A GitRepository whose attempt on the new revision ended on something passing (its
// status patch to an API server that had gone) has handled the request with
// Ready=False and ArtifactOutdated's reason NewRevision: source-controller retries,
// so the wait goes on and ends Ready when the next attempt builds the artifact.
func TestFollowWaitsOutASourceStillOnItsNewRevision(t *testing.T) {
	env := production(t, fakeflux.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := Announce(ctx, env)
	require.NoError(t, err)
	repo := &sourcev1.GitRepository{}
	require.NoError(t, env.Cluster.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: env.Source.Name}, repo))
	repo.Status.LastHandledReconcileAt = out.RequestedAt
	msg := "new upstream revision 'main@sha1:" + newSHA + "'"
	repo.Status.Conditions = []metav1.Condition{
		{Type: meta.ReadyCondition, Status: metav1.ConditionFalse, Reason: "NewRevision", Message: msg, LastTransitionTime: metav1.Now()},
		metaCondition(sourcev1.ArtifactOutdatedCondition, "NewRevision", msg),
		metaCondition(meta.ReconcilingCondition, meta.ProgressingWithRetryReason, msg),
	}
	require.NoError(t, env.Cluster.Client.Update(ctx, repo))
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, env, newSHA, out, Options{Wait: true, Progress: &fakeflux.Progress{}}) }()
	select {
	case err := <-done:
		t.Fatalf("the wait ended on a source still at work on its new revision: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	// The retry builds the artifact.
	require.NoError(t, env.Cluster.Client.Get(ctx, client.ObjectKeyFromObject(repo), repo))
	repo.Status.Artifact = &meta.Artifact{Revision: "main@sha1:" + newSHA, Path: "gitrepository/flux-system/flux-system/" + newSHA + ".tar.gz", LastUpdateTime: metav1.Now()}
	repo.Status.Conditions = []metav1.Condition{metaCondition(meta.ReadyCondition, meta.SucceededReason, "stored artifact")}
	require.NoError(t, env.Cluster.Client.Update(ctx, repo))
	startFlux(t, env, fakeflux.Controller{NoSource: true})
	require.NoError(t, <-done)
}

func TestSourceFailed(t *testing.T) {
	ready := func(status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: meta.ReadyCondition, Status: status, Reason: reason}
	}
	outdated := metaCondition(sourcev1.ArtifactOutdatedCondition, "NewRevision", "new upstream revision")
	unverified := metav1.Condition{Type: sourcev1.SourceVerifiedCondition, Status: metav1.ConditionFalse, Reason: "InvalidCommitSignature"}
	for _, c := range []struct {
		name       string
		conditions []metav1.Condition
		failed     bool
	}{
		{"ready", []metav1.Condition{ready(metav1.ConditionTrue, meta.SucceededReason)}, false},
		{"reconciling", []metav1.Condition{ready(metav1.ConditionUnknown, meta.ProgressingReason)}, false},
		{"no conditions", nil, false},
		{"fetch failed", []metav1.Condition{ready(metav1.ConditionFalse, "GitOperationFailed"), metaCondition(sourcev1.FetchFailedCondition, "GitOperationFailed", "auth")}, true},
		{"new revision pending", []metav1.Condition{ready(metav1.ConditionFalse, "NewRevision"), outdated}, false},
		{"fetch failed with a new revision outdated", []metav1.Condition{ready(metav1.ConditionFalse, "GitOperationFailed"), outdated}, true},
		{"new revision unverified", []metav1.Condition{ready(metav1.ConditionFalse, "NewRevision"), outdated, unverified}, true},
		{"NewRevision without ArtifactOutdated", []metav1.Condition{ready(metav1.ConditionFalse, "NewRevision")}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.failed, sourceFailed(c.conditions) != nil)
		})
	}
}

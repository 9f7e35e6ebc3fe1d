package fleet

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

// KustomizationState is what a test reads off a Flux Kustomization.
type KustomizationState struct {
	Ready                 metav1.ConditionStatus
	Reason, Message       string
	LastAppliedRevision   string
	LastAttemptedRevision string
	UpToDate              bool // observedGeneration == generation
	Annotations           map[string]string
}

func (s KustomizationState) String() string {
	return fmt.Sprintf("Ready=%s %s %q applied=%s attempted=%s", s.Ready, s.Reason, s.Message, s.LastAppliedRevision, s.LastAttemptedRevision)
}

// Kustomization reads a Kustomization's state.
func Kustomization(ctx context.Context, c client.Client, key client.ObjectKey) (KustomizationState, error) {
	var ks kustomizev1.Kustomization
	if err := c.Get(ctx, key, &ks); err != nil {
		return KustomizationState{}, err
	}
	st := KustomizationState{
		Ready:                 metav1.ConditionUnknown,
		LastAppliedRevision:   ks.Status.LastAppliedRevision,
		LastAttemptedRevision: ks.Status.LastAttemptedRevision,
		UpToDate:              ks.Status.ObservedGeneration == ks.Generation,
		Annotations:           ks.Annotations,
	}
	if cond := apimeta.FindStatusCondition(ks.Status.Conditions, meta.ReadyCondition); cond != nil {
		st.Ready, st.Reason, st.Message = cond.Status, cond.Reason, cond.Message
	}
	return st, nil
}

// Poll calls cond every 100 ms until it returns true, an error, or limit passes (a
// bound against hangs, not a measurement).
func Poll(ctx context.Context, limit time.Duration, cond func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond)
}

// WaitApplied waits until env's infrastructure and apps Kustomizations are Ready with
// sha applied.
func (f *Fleet) WaitApplied(ctx context.Context, env, sha string, limit time.Duration) error {
	c := f.Client(env)
	infra, apps := f.Kustomizations(env)
	var last KustomizationState
	var lastKey client.ObjectKey
	var diag artifactDiagnosis
	err := Poll(ctx, limit, func(ctx context.Context) (bool, error) {
		for _, key := range []client.ObjectKey{infra, apps} {
			st, err := Kustomization(ctx, c, key)
			if err != nil {
				return false, client.IgnoreNotFound(err)
			}
			last, lastKey = st, key
			if err := diag.check(ctx, f, env, st); err != nil {
				return false, err
			}
			if st.Ready != metav1.ConditionTrue || !st.UpToDate || st.LastAppliedRevision != f.RevisionIn(env, sha) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s: Kustomization %s did not apply %s: %s: %w", env, lastKey, f.RevisionIn(env, sha), last, err)
	}
	return nil
}

// WaitAttempted waits until the Kustomization key has attempted sha and is not
// reconciling any more (Ready is True or False), returning its state.
func (f *Fleet) WaitAttempted(ctx context.Context, env string, key client.ObjectKey, sha string, limit time.Duration) (KustomizationState, error) {
	c := f.Client(env)
	var last KustomizationState
	err := Poll(ctx, limit, func(ctx context.Context) (bool, error) {
		st, err := Kustomization(ctx, c, key)
		if err != nil {
			return false, err
		}
		last = st
		return st.LastAttemptedRevision == f.RevisionIn(env, sha) && st.Ready != metav1.ConditionUnknown, nil
	})
	if err != nil {
		return last, fmt.Errorf("%s: Kustomization %s did not finish attempting %s: %s: %w", env, key, f.RevisionIn(env, sha), last, err)
	}
	return last, nil
}

// RequestReconcile writes reconcile.fluxcd.io/requestedAt on a Flux object, as
// `flux reconcile` does.
func RequestReconcile(ctx context.Context, c client.Client, obj client.Object) error {
	_, err := requestReconcile(ctx, c, obj)
	return err
}

func requestReconcile(ctx context.Context, c client.Client, obj client.Object) (string, error) {
	token := time.Now().Format(time.RFC3339Nano)
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, token))
	return token, c.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", patch))
}

// request is RequestReconcile on env's plane, remembered so tests can tell the
// fleet's own requests from the tool's (see OwnReconcileRequests).
func (f *Fleet) request(ctx context.Context, env string, obj client.Object) error {
	token, err := requestReconcile(ctx, f.Client(env), obj)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.requests == nil {
		f.requests = map[string]string{}
	}
	f.requests[requestKey(f.Context(env), obj)] = token
	return nil
}

func requestKey(context string, obj client.Object) string {
	kind := "Kustomization"
	if _, ok := obj.(*sourcev1.GitRepository); ok {
		kind = "GitRepository"
	}
	return context + "/" + kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// ReconcileRequests returns the reconcile.fluxcd.io/requestedAt annotation of env's
// GitRepository and Kustomizations, keyed CONTEXT/KIND/NAMESPACE/NAME ("" when
// absent).
func (f *Fleet) ReconcileRequests(ctx context.Context, env string) (map[string]string, error) {
	c := f.Client(env)
	src := f.SourceKey()
	infra, apps := f.Kustomizations(env)
	objs := []client.Object{
		&sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: src.Name}},
		&kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: infra.Namespace, Name: infra.Name}},
		&kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: apps.Namespace, Name: apps.Name}},
	}
	out := map[string]string{}
	for _, o := range objs {
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			return nil, err
		}
		out[requestKey(f.Context(env), o)] = o.GetAnnotations()[meta.ReconcileRequestAnnotation]
	}
	return out, nil
}

// OwnReconcileRequests is what ReconcileRequests would return if only the fleet
// itself (set-up, Reconcile, Settle) had asked env to reconcile.
func (f *Fleet) OwnReconcileRequests(ctx context.Context, env string) (map[string]string, error) {
	cur, err := f.ReconcileRequests(ctx, env)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k := range cur {
		out[k] = f.requests[k]
	}
	return out, nil
}

// Reconcile asks Flux to reconcile env now: the GitRepository, then infrastructure
// and apps (the baseline a user gets from `flux reconcile ks apps --with-source`,
// plus the infrastructure Kustomization).
func (f *Fleet) Reconcile(ctx context.Context, env string) error {
	src := f.SourceKey()
	infra, apps := f.Kustomizations(env)
	objs := []client.Object{
		&sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: src.Name}},
		&kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: infra.Namespace, Name: infra.Name}},
		&kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: apps.Namespace, Name: apps.Name}},
	}
	for _, o := range objs {
		if err := f.request(ctx, env, o); err != nil {
			return err
		}
	}
	return nil
}

// DeploymentState is what a test reads off a Deployment.
type DeploymentState struct {
	Images    []string
	Available bool // every replica updated and available, rollout observed
	Replicas  int32
}

// Deployment reads a Deployment's images and availability.
func Deployment(ctx context.Context, c client.Client, namespace, name string) (DeploymentState, error) {
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
		return DeploymentState{}, err
	}
	st := DeploymentState{}
	for _, ct := range d.Spec.Template.Spec.Containers {
		st.Images = append(st.Images, ct.Image)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st.Replicas = want
	st.Available = d.Status.ObservedGeneration == d.Generation &&
		d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas == want && d.Status.Replicas == want
	if cond := deploymentCondition(&d, appsv1.DeploymentAvailable); cond == nil || cond.Status != "True" {
		st.Available = false
	}
	return st, nil
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// GitRepositoryRevision is the artifact revision the GitRepository has fetched.
func GitRepositoryRevision(ctx context.Context, c client.Client, key client.ObjectKey) (string, map[string]string, error) {
	var gr sourcev1.GitRepository
	if err := c.Get(ctx, key, &gr); err != nil {
		return "", nil, err
	}
	rev := ""
	if gr.Status.Artifact != nil {
		rev = gr.Status.Artifact.Revision
	}
	return rev, gr.Annotations, nil
}

// SettleInitial waits for env to apply the first commit, asking apps to reconcile as
// soon as infrastructure is Ready instead of waiting out kustomize-controller's 30 s
// dependency requeue, so every test does not pay it at start-up.
func (f *Fleet) SettleInitial(ctx context.Context, env string) error {
	return f.Settle(ctx, env, f.Initial)
}

// Settle waits until env has applied sha, asking apps to reconcile again whenever
// infrastructure has applied sha but apps is still waiting for it. It is test set-up
// (what kubectl promote does for the target), not the baseline being measured.
func (f *Fleet) Settle(ctx context.Context, env, sha string) error {
	c := f.Client(env)
	infra, apps := f.Kustomizations(env)
	var lastNudge time.Time
	var diag artifactDiagnosis
	var problem error
	err := Poll(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		ist, err := Kustomization(ctx, c, infra)
		if err != nil {
			return false, client.IgnoreNotFound(err)
		}
		ast, err := Kustomization(ctx, c, apps)
		if err != nil {
			return false, client.IgnoreNotFound(err)
		}
		for _, st := range []KustomizationState{ist, ast} {
			if problem = diag.check(ctx, f, env, st); problem != nil {
				return false, problem
			}
		}
		if ast.Ready == metav1.ConditionTrue && ast.UpToDate && ast.LastAppliedRevision == f.RevisionIn(env, sha) {
			return true, nil
		}
		infraDone := ist.Ready == metav1.ConditionTrue && ist.LastAppliedRevision == f.RevisionIn(env, sha)
		if infraDone && ast.Ready != metav1.ConditionTrue && time.Since(lastNudge) > 3*time.Second &&
			(lastNudge.IsZero() || ast.Reason == meta.DependencyNotReadyReason) {
			ks := &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: apps.Namespace, Name: apps.Name}}
			if err := f.request(ctx, env, ks); err != nil {
				return false, err
			}
			lastNudge = time.Now()
		}
		return false, nil
	})
	if problem != nil {
		return problem
	}
	if err != nil {
		return f.WaitApplied(ctx, env, sha, time.Second) // for its error message
	}
	return nil
}

// artifactDiagnosis looks into a Kustomization that cannot get its source artifact
// ("Source artifact not found", "artifact not found" on download), at most once a
// second, for a cause in the plane itself that no amount of waiting mends.
type artifactDiagnosis struct{ last time.Time }

func (d *artifactDiagnosis) check(ctx context.Context, f *Fleet, env string, st KustomizationState) error {
	if st.Reason != meta.ArtifactFailedReason || time.Since(d.last) < time.Second {
		return nil
	}
	d.last = time.Now()
	return f.artifactProblem(ctx, env, st)
}

// artifactProblem explains why env's Kustomizations cannot get the source artifact
// when the plane itself is at fault: its source-controller has ended, or the port of
// its artifact server is held by another process (another plane's source-controller
// would answer every download with 404). It returns nil when the plane is sound (the
// GitRepository has simply not fetched yet, or the artifact was just replaced).
func (f *Fleet) artifactProblem(ctx context.Context, env string, st KustomizationState) error {
	p := f.Plane(env)
	pid, err := p.Component("source-controller")
	if err != nil {
		return fmt.Errorf("%s: Kustomization says %q: source-controller is not running: %w", env, st.Message, err)
	}
	addr := p.StorageAddr()
	var gr sourcev1.GitRepository
	if err := f.Client(env).Get(ctx, f.SourceKey(), &gr); err == nil && gr.Status.Artifact != nil {
		if u, err := url.Parse(gr.Status.Artifact.URL); err == nil && u.Host != "" {
			addr = u.Host
		}
	}
	if err := storageProblem(addr, pid); err != nil {
		return fmt.Errorf("%s: Kustomization says %q: %w", env, st.Message, err)
	}
	return nil
}

// storageProblem says what is wrong when the artifact server at addr is not served
// by the source-controller with process id pid.
func storageProblem(addr string, pid int) error {
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("artifact address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("artifact address %q: %w", addr, err)
	}
	holder, err := plane.FindPortHolder(port)
	switch {
	case err != nil:
		return nil // cannot tell; the wait's own timeout reports it
	case holder == nil:
		return fmt.Errorf("nothing listens on the artifact address %s of source-controller (pid %d)", addr, pid)
	case holder.PID != pid:
		return fmt.Errorf("the artifact address %s is held by %s, not by this plane's source-controller (pid %d): kustomize-controller downloads that server's artifacts and gets 404", addr, holder, pid)
	}
	return nil
}

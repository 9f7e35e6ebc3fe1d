package gates

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

func kustomization(name string, ready metav1.ConditionStatus, applied string, deps ...string) *kustomizev1.Kustomization {
	k := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flux-system", Generation: 1},
		Spec: kustomizev1.KustomizationSpec{SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "flux-system"},
			HealthChecks: []meta.NamespacedObjectKindReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "my-app", Namespace: "staging"}}},
		Status: kustomizev1.KustomizationStatus{ObservedGeneration: 1, LastAppliedRevision: applied, LastAttemptedRevision: applied,
			Conditions: []metav1.Condition{{Type: meta.ReadyCondition, Status: ready, Reason: "ReconciliationSucceeded", Message: "Applied revision: " + applied,
				LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))}}},
	}
	for _, d := range deps {
		k.Spec.DependsOn = append(k.Spec.DependsOn, meta.DependencyReference{Name: d})
	}
	return k
}

func deployment(ns, name string, available bool) *appsv1.Deployment {
	replicas := int32(2)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: "True"}, {Type: appsv1.DeploymentProgressing, Status: "True", Reason: "NewReplicaSetAvailable"}}}
	if !available {
		d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
		d.Status.Conditions[0].Status = "False"
	}
	return d
}

func env(name string, ks *kustomizev1.Kustomization, objs ...client.Object) *flux.Environment {
	mapper := metaRESTMapper()
	c := fake.NewClientBuilder().WithScheme(flux.Scheme).WithRESTMapper(mapper).WithObjects(objs...).WithStatusSubresource(objs...).Build()
	return &flux.Environment{Name: name, Kustomization: ks, Cluster: &flux.Cluster{Context: name, Client: c}}
}

func byName(s v1alpha1.Gates) map[string]v1alpha1.Gate {
	m := map[string]v1alpha1.Gate{}
	for _, g := range s {
		m[g.Name] = g
	}
	return m
}

func TestSourceGates(t *testing.T) {
	ctx := context.Background()
	good := kustomization("apps", metav1.ConditionTrue, "main@sha1:abc")
	set := Source(ctx, env("staging", good, deployment("staging", "my-app", true)), SourceOptions{})
	require.True(t, set.Passed(), "%+v", set)

	set = Source(ctx, env("staging", good, deployment("staging", "my-app", false)), SourceOptions{})
	require.Equal(t, []string{"source-health"}, set.Failed())
	require.Contains(t, byName(set)["source-health"].Message, "Deployment/staging/my-app is InProgress")

	suspended := good.DeepCopy()
	suspended.Spec.Suspend = true
	require.Equal(t, []string{"source-suspended"}, Source(ctx, env("staging", suspended, deployment("staging", "my-app", true)), SourceOptions{}).Failed())

	never := kustomization("apps", metav1.ConditionFalse, "")
	require.ElementsMatch(t, []string{"source-ready", "source-applied"}, Source(ctx, env("staging", never, deployment("staging", "my-app", true)), SourceOptions{}).Failed())

	failing := good.DeepCopy()
	failing.Status.LastAttemptedRevision = "main@sha1:def"
	require.Contains(t, byName(Source(ctx, env("staging", failing, deployment("staging", "my-app", true)), SourceOptions{}))["source-applied"].Message, "last attempted main@sha1:def")

	missing := Source(ctx, env("staging", good), SourceOptions{})
	require.Equal(t, []string{"source-health"}, missing.Failed())
}

func TestSourceSoak(t *testing.T) {
	ctx := context.Background()
	good := kustomization("apps", metav1.ConditionTrue, "main@sha1:abc")
	since := good.Status.Conditions[0].LastTransitionTime.Time
	e := env("staging", good, deployment("staging", "my-app", true))
	set := Source(ctx, e, SourceOptions{MinSoak: time.Hour, Now: since.Add(30 * time.Minute)})
	require.Equal(t, []string{"source-soak"}, set.Failed())
	require.Contains(t, byName(set)["source-soak"].Message, "less than --min-soak 1h0m0s")
	require.True(t, Source(ctx, e, SourceOptions{MinSoak: time.Hour, Now: since.Add(2 * time.Hour)}).Passed())
}

// Flux marks Ready Unknown at the start of every reconcile, so Ready's
// lastTransitionTime moves every interval; the soak counts from the revision's first
// successful reconcile in status.history, and restarts after a failed one.
func TestSourceSoakFromHistory(t *testing.T) {
	ctx := context.Background()
	at := func(h int) metav1.Time { return metav1.NewTime(time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC)) }
	rev := map[string]string{"revision": "main@sha1:abc"}
	good := kustomization("apps", metav1.ConditionTrue, "main@sha1:abc")
	good.Status.Conditions[0].LastTransitionTime = at(11) // the last routine reconcile
	good.Status.History = meta.History{
		{Digest: "sha256:1", FirstReconciled: at(2), LastReconciled: at(11), LastReconciledStatus: meta.ReconciliationSucceededReason, Metadata: rev},
		{Digest: "sha256:0", FirstReconciled: at(1), LastReconciled: at(1), LastReconciledStatus: meta.ReconciliationSucceededReason,
			Metadata: map[string]string{"revision": "main@sha1:old"}},
	}
	e := env("staging", good, deployment("staging", "my-app", true))
	set := Source(ctx, e, SourceOptions{MinSoak: 9 * time.Hour, Now: at(11).Add(30 * time.Minute)})
	require.True(t, set.Passed(), "%+v", set)
	require.Contains(t, byName(set)["source-soak"].Message, "for 9h30m0s")

	// A failed reconcile of the same revision at 5:00 restarts the soak.
	failed := good.DeepCopy()
	failed.Status.History = append(meta.History{
		{Digest: "sha256:1", FirstReconciled: at(4), LastReconciled: at(5), LastReconciledStatus: meta.HealthCheckFailedReason, Metadata: rev},
	}, failed.Status.History...)
	e = env("staging", failed, deployment("staging", "my-app", true))
	set = Source(ctx, e, SourceOptions{MinSoak: 9 * time.Hour, Now: at(11).Add(30 * time.Minute)})
	require.Equal(t, []string{"source-soak"}, set.Failed())
	require.Contains(t, byName(set)["source-soak"].Message, "for 6h30m0s")
}

func TestTargetGates(t *testing.T) {
	ctx := context.Background()
	repo := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "flux-system", Namespace: "flux-system"},
		Status: sourcev1.GitRepositoryStatus{Artifact: &meta.Artifact{Revision: "main@sha1:new"}}}
	apps := kustomization("apps", metav1.ConditionTrue, "main@sha1:new", "infrastructure")
	set := Target(ctx, env("production", apps, repo, kustomization("infrastructure", metav1.ConditionTrue, "main@sha1:new")))
	require.True(t, set.Passed(), "%+v", set)

	set = Target(ctx, env("production", apps, repo, kustomization("infrastructure", metav1.ConditionFalse, "main@sha1:new")))
	require.Equal(t, []string{"target-dependencies"}, set.Failed())
	require.Contains(t, byName(set)["target-dependencies"].Message, "dependency flux-system/infrastructure is not ready")

	set = Target(ctx, env("production", apps, repo, kustomization("infrastructure", metav1.ConditionTrue, "main@sha1:old")))
	require.Contains(t, byName(set)["target-dependencies"].Message, "revision is not up to date")

	suspended := apps.DeepCopy()
	suspended.Spec.Suspend = true
	set = Target(ctx, env("production", suspended, repo, kustomization("infrastructure", metav1.ConditionTrue, "main@sha1:new")))
	require.Equal(t, []string{"target-suspended"}, set.Failed())
}

func TestHealthObjectsIncludesInventoryWithWait(t *testing.T) {
	k := kustomization("apps", metav1.ConditionTrue, "x")
	k.Spec.Wait = true
	k.Status.Inventory = &kustomizev1.ResourceInventory{Entries: []kustomizev1.ResourceRef{
		{ID: "staging_redis_apps_Deployment", Version: "v1"},
		{ID: "staging_my-app__Service", Version: "v1"},
		{ID: "staging_my-app_apps_Deployment", Version: "v1"},
	}}
	objs := HealthObjects(k)
	require.Len(t, objs, 2)
	require.Equal(t, schema.GroupKind{Group: "apps", Kind: "Deployment"}, objs[1].GroupKind)
	require.Equal(t, "redis", objs[1].Name)
}

// An error names the resource as the API server's mapping does ("ingresses", not
// "ingresss"), so the RBAC advice in it is right.
func TestObjectStatusNamesTheResourceFromTheMapping(t *testing.T) {
	mapper := apimeta.NewDefaultRESTMapper(nil)
	mapper.Add(networkingv1.SchemeGroupVersion.WithKind("Ingress"), apimeta.RESTScopeNamespace)
	mapper.AddSpecific(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Mouse"},
		schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "mice"},
		schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "mouse"}, apimeta.RESTScopeNamespace)
	c := fake.NewClientBuilder().WithScheme(flux.Scheme).WithRESTMapper(mapper).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(_ context.Context, _ client.WithWatch, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
			gvk := obj.GetObjectKind().GroupVersionKind()
			return apierrors.NewForbidden(schema.GroupResource{Group: gvk.Group, Resource: "x"}, key.Name, errors.New("no"))
		},
	}).Build()
	cluster := &flux.Cluster{Context: "prod", Client: c}
	for kind, want := range map[schema.GroupKind]string{
		{Group: "networking.k8s.io", Kind: "Ingress"}: "ingresses.networking.k8s.io",
		{Group: "example.com", Kind: "Mouse"}:         "mice.example.com",
	} {
		_, err := ObjectStatus(context.Background(), cluster, Object{ObjMetadata: object.ObjMetadata{Namespace: "web", Name: "front", GroupKind: kind}, Version: "v1"})
		var forbidden *flux.ForbiddenError
		require.True(t, errors.As(err, &forbidden), "%v", err)
		require.Equal(t, want, forbidden.Resource)
	}
}

// A readyExpr on the dependsOn entry of a Kustomization inside the target's chain is
// the one that decides for that dependency, not the target's (which has none).
func TestTargetGatesEvaluateReadyExprInTheChain(t *testing.T) {
	ctx := context.Background()
	repo := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "flux-system", Namespace: "flux-system"},
		Status: sourcev1.GitRepositoryStatus{Artifact: &meta.Artifact{Revision: "main@sha1:new"}}}
	apps := kustomization("apps", metav1.ConditionTrue, "main@sha1:new", "infrastructure")
	infra := kustomization("infrastructure", metav1.ConditionTrue, "main@sha1:new", "crds")
	crds := kustomization("crds", metav1.ConditionFalse, "main@sha1:old")
	set := Target(ctx, env("production", apps, repo, infra, crds))
	require.Equal(t, []string{"target-dependencies"}, set.Failed(), "without a readyExpr the built-in rule fails crds")

	infra.Spec.DependsOn[0].ReadyExpr = `dep.metadata.name == 'crds'`
	set = Target(ctx, env("production", apps, repo, infra, crds))
	require.True(t, set.Passed(), "%+v", set)

	infra.Spec.DependsOn[0].ReadyExpr = `dep.metadata.name == 'other'`
	set = Target(ctx, env("production", apps, repo, infra, crds))
	require.Contains(t, byName(set)["target-dependencies"].Message, "dependency flux-system/crds is not ready according to its readyExpr")
}

// spec.healthCheckExprs judge the kinds they cover through Flux's CEL status reader,
// instead of kstatus's built-in rules.
func TestHealthUsesHealthCheckExprs(t *testing.T) {
	ctx := context.Background()
	unavailable := deployment("staging", "my-app", false)
	k := kustomization("apps", metav1.ConditionTrue, "main@sha1:abc")
	require.False(t, Health(ctx, env("staging", k, unavailable), "source-health").Passed, "kstatus: not Current")

	withExprs := func(hc kustomize.HealthCheckExpressions) *kustomizev1.Kustomization {
		k := k.DeepCopy()
		k.Spec.HealthCheckExprs = []kustomize.CustomHealthCheck{{APIVersion: "apps/v1", Kind: "Deployment", HealthCheckExpressions: hc}}
		return k
	}
	g := Health(ctx, env("staging", withExprs(kustomize.HealthCheckExpressions{Current: "status.replicas == 2"}), unavailable), "source-health")
	require.True(t, g.Passed, "%+v", g)

	g = Health(ctx, env("staging", withExprs(kustomize.HealthCheckExpressions{
		Current: "status.readyReplicas == 2", Failed: "status.conditions.exists(c, c.type == 'Available' && c.status == 'False')"}), unavailable), "source-health")
	require.False(t, g.Passed)
	require.Contains(t, g.Message, "Deployment/staging/my-app is Failed")

	g = Health(ctx, env("staging", withExprs(kustomize.HealthCheckExpressions{Current: "status.replicas =="}), unavailable), "source-health")
	require.False(t, g.Passed)
	require.Contains(t, g.Message, "spec.healthCheckExprs: ")
}

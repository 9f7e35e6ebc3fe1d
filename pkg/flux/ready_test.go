package flux

import (
	"context"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func ks(name string, ready metav1.ConditionStatus, applied string, deps ...string) *kustomizev1.Kustomization {
	k := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flux-system", Generation: 2},
		Spec:       kustomizev1.KustomizationSpec{SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "flux-system"}},
		Status: kustomizev1.KustomizationStatus{ObservedGeneration: 2, LastAppliedRevision: applied,
			Conditions: []metav1.Condition{{Type: meta.ReadyCondition, Status: ready, Reason: "R", Message: "msg " + name}}},
	}
	for _, d := range deps {
		k.Spec.DependsOn = append(k.Spec.DependsOn, meta.DependencyReference{Name: d})
	}
	return k
}

func TestReady(t *testing.T) {
	ok, _ := Ready(ks("a", metav1.ConditionTrue, "main@sha1:1"))
	require.True(t, ok)
	ok, why := Ready(ks("a", metav1.ConditionFalse, "main@sha1:1"))
	require.False(t, ok)
	require.Contains(t, why, "Ready=False R: msg a")
	stale := ks("a", metav1.ConditionTrue, "main@sha1:1")
	stale.Generation = 3
	ok, why = Ready(stale)
	require.False(t, ok)
	require.Contains(t, why, "generation 3 not yet observed")
	none := ks("a", metav1.ConditionTrue, "")
	none.Status.Conditions = nil
	ok, _ = Ready(none)
	require.False(t, ok)
}

func TestDependencyReadyFollowsKustomizeController(t *testing.T) {
	src := &sourcev1.GitRepository{Status: sourcev1.GitRepositoryStatus{Artifact: &meta.Artifact{Revision: "main@sha1:new"}}}
	apps := ks("apps", metav1.ConditionTrue, "main@sha1:old", "infra")
	require.NoError(t, DependencyReady(ks("infra", metav1.ConditionTrue, "main@sha1:new"), apps, src))
	err := DependencyReady(ks("infra", metav1.ConditionTrue, "main@sha1:old"), apps, src)
	require.ErrorContains(t, err, "revision is not up to date")
	require.ErrorContains(t, DependencyReady(ks("infra", metav1.ConditionFalse, "main@sha1:new"), apps, src), "is not ready")
	// A dependency reading another source only has to be Ready.
	other := ks("infra", metav1.ConditionTrue, "main@sha1:old")
	other.Spec.SourceRef.Name = "other"
	require.NoError(t, DependencyReady(other, apps, src))
}

func TestDependsOnChainOrdersAndDetectsCycles(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(Scheme).WithObjects(
		ks("base", metav1.ConditionTrue, ""),
		ks("infra", metav1.ConditionTrue, "", "base"),
		ks("config", metav1.ConditionTrue, "", "base"),
	).Build()
	cluster := &Cluster{Context: "test", Client: c}
	chain, err := DependsOnChain(context.Background(), cluster, ks("apps", metav1.ConditionTrue, "", "infra", "config"))
	require.NoError(t, err)
	var names []string
	for _, k := range chain {
		names = append(names, k.Name)
	}
	require.Equal(t, []string{"base", "infra", "config"}, names)

	cyc := fake.NewClientBuilder().WithScheme(Scheme).WithObjects(ks("a", metav1.ConditionTrue, "", "b"), ks("b", metav1.ConditionTrue, "", "a")).Build()
	_, err = DependsOnChain(context.Background(), &Cluster{Context: "test", Client: cyc}, ks("a", metav1.ConditionTrue, "", "b"))
	require.ErrorContains(t, err, "dependsOn cycle")

	_, err = DependsOnChain(context.Background(), cluster, ks("apps", metav1.ConditionTrue, "", "missing"))
	require.ErrorContains(t, err, "dependency flux-system/missing of Kustomization flux-system/apps not found")
}

// A dependsOn entry's readyExpr decides alone, as kustomize-controller v1.9 does with
// AdditiveCELDependencyCheck at its default (off): over self (the dependent) and dep.
func TestDependencyReadyEvaluatesReadyExpr(t *testing.T) {
	src := &sourcev1.GitRepository{Status: sourcev1.GitRepositoryStatus{Artifact: &meta.Artifact{Revision: "main@sha1:new"}}}
	withExpr := func(expr string) *kustomizev1.Kustomization {
		apps := ks("apps", metav1.ConditionTrue, "main@sha1:old", "infra")
		apps.Labels = map[string]string{"tier": "web"}
		apps.Spec.DependsOn[0].ReadyExpr = expr
		return apps
	}
	notReady := ks("infra", metav1.ConditionFalse, "main@sha1:old")
	notReady.Labels = map[string]string{"tier": "web"}
	ready := ks("infra", metav1.ConditionTrue, "main@sha1:new")

	// The expression holds: ready, although the built-in rule fails.
	require.NoError(t, DependencyReady(notReady, withExpr(`dep.metadata.labels.tier == self.metadata.labels.tier`), src))
	require.NoError(t, DependencyReady(notReady, withExpr(`dep.status.conditions.exists(c, c.type == 'Ready')`), src))
	// It does not: not ready, although the built-in rule passes.
	err := DependencyReady(ready, withExpr(`dep.status.lastAppliedRevision == 'main@sha1:other'`), src)
	require.ErrorContains(t, err, "dependency flux-system/infra is not ready according to its readyExpr")
	// An expression that does not compile, or is not a bool, is an error that says so.
	require.ErrorContains(t, DependencyReady(ready, withExpr(`dep.metadata.name ==`), src), "readyExpr of Kustomization flux-system/apps for flux-system/infra is invalid")
	require.ErrorContains(t, DependencyReady(ready, withExpr(`dep.metadata.name`), src), "is invalid")
	// Another dependency of the same dependent keeps the built-in rule.
	apps := withExpr(`true`)
	apps.Spec.DependsOn = append(apps.Spec.DependsOn, meta.DependencyReference{Name: "db"})
	require.ErrorContains(t, DependencyReady(ks("db", metav1.ConditionFalse, "main@sha1:new"), apps, src), "dependency flux-system/db is not ready: Ready=False")
}

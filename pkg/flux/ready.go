package flux

import (
	"context"
	"fmt"
	"strings"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/cel"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	celtypes "github.com/google/cel-go/common/types"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Condition returns a Flux object's condition of the given type, or nil.
func Condition(conds []metav1.Condition, typ string) *metav1.Condition {
	return apimeta.FindStatusCondition(conds, typ)
}

// Ready says whether a Kustomization is Ready=True for its current generation and,
// when not, gives Flux's own reason and message.
func Ready(ks *kustomizev1.Kustomization) (bool, string) {
	c := Condition(ks.Status.Conditions, meta.ReadyCondition)
	switch {
	case c == nil:
		return false, "no Ready condition yet: Flux has not reconciled it"
	case ks.Generation != ks.Status.ObservedGeneration:
		return false, fmt.Sprintf("generation %d not yet observed (observed %d)", ks.Generation, ks.Status.ObservedGeneration)
	case c.Status != metav1.ConditionTrue:
		return false, fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
	}
	return true, c.Message
}

// Stalled returns Flux's Stalled condition message when the object has given up.
func Stalled(conds []metav1.Condition) (bool, string) {
	c := Condition(conds, meta.StalledCondition)
	if c != nil && c.Status == metav1.ConditionTrue {
		return true, c.Reason + ": " + c.Message
	}
	return false, ""
}

// Dependency is one Kustomization of a dependsOn chain.
type Dependency struct {
	Kustomization *kustomizev1.Kustomization
	// Source is the GitRepository it reads, when that is a GitRepository in the same cluster.
	Source *sourcev1.GitRepository
}

// AdditiveCELDependencyCheck is kustomize-controller's feature gate of that name at
// its default (off, in v1.9): a dependsOn entry with a readyExpr is ready when the
// expression holds, instead of by the built-in rule; with the gate on, both must
// hold. The gate is a flag of the controller's process, which the API does not show.
const AdditiveCELDependencyCheck = false

// DependencyReady applies kustomize-controller v1.9's rule for a dependency of
// dependent: the dependsOn entry's readyExpr, when it has one, evaluated with Flux's
// own CEL package over self (dependent) and dep, must hold; and, without a readyExpr
// (or with AdditiveCELDependencyCheck), dep must be Ready=True for its generation
// and, when both read the same source, applied at that source's current artifact
// revision.
func DependencyReady(dep *kustomizev1.Kustomization, dependent *kustomizev1.Kustomization, source *sourcev1.GitRepository) error {
	revision := ""
	if source != nil && source.Status.Artifact != nil {
		revision = source.Status.Artifact.Revision
	}
	return DependencyReadyOn(dep, dependent, revision)
}

// DependencyReadyOn is DependencyReady for a source of any kind whose artifact is at
// revision ("" when it has none).
func DependencyReadyOn(dep, dependent *kustomizev1.Kustomization, revision string) error {
	if expr := readyExpr(dep, dependent); expr != "" {
		ready, err := evalReadyExpr(expr, dependent, dep)
		if err != nil {
			return err
		}
		if !ready {
			return fmt.Errorf("dependency %s/%s is not ready according to its readyExpr %q", dep.Namespace, dep.Name, expr)
		}
		if !AdditiveCELDependencyCheck {
			return nil
		}
	}
	if ok, why := Ready(dep); !ok {
		return fmt.Errorf("dependency %s/%s is not ready: %s", dep.Namespace, dep.Name, why)
	}
	if revision != "" && sameSource(dep, dependent) && !SameRevision(dep.Status.LastAppliedRevision, revision) {
		return fmt.Errorf("dependency %s/%s revision is not up to date: applied %s, source has %s",
			dep.Namespace, dep.Name, dep.Status.LastAppliedRevision, revision)
	}
	return nil
}

// readyExpr returns the readyExpr of dependent's dependsOn entry for dep, if any.
func readyExpr(dep, dependent *kustomizev1.Kustomization) string {
	for _, d := range dependent.Spec.DependsOn {
		ns := d.Namespace
		if ns == "" {
			ns = dependent.Namespace
		}
		if d.Name == dep.Name && ns == dep.Namespace {
			return d.ReadyExpr
		}
	}
	return ""
}

// evalReadyExpr is kustomize-controller's evalReadyExpr: the expression compiled to a
// bool over the struct variables self and dep, the two Kustomizations as maps.
func evalReadyExpr(expr string, self, dep *kustomizev1.Kustomization) (bool, error) {
	e, err := cel.NewExpression(expr, cel.WithCompile(), cel.WithOutputType(celtypes.BoolType), cel.WithStructVariables("self", "dep"))
	if err != nil {
		return false, fmt.Errorf("dependsOn readyExpr of Kustomization %s/%s for %s/%s is invalid (Flux stops retrying it too): %w",
			self.Namespace, self.Name, dep.Namespace, dep.Name, err)
	}
	selfMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(self)
	if err != nil {
		return false, err
	}
	depMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dep)
	if err != nil {
		return false, err
	}
	// Evaluation is CPU only, bounded by CEL's cost limits: nothing to cancel.
	ok, err := e.EvaluateBoolean(context.Background(), map[string]any{"self": selfMap, "dep": depMap})
	if err != nil {
		return false, fmt.Errorf("evaluating the dependsOn readyExpr of Kustomization %s/%s for %s/%s: %w",
			self.Namespace, self.Name, dep.Namespace, dep.Name, err)
	}
	return ok, nil
}

func sameSource(a, b *kustomizev1.Kustomization) bool {
	ns := func(k *kustomizev1.Kustomization) string {
		if k.Spec.SourceRef.Namespace != "" {
			return k.Spec.SourceRef.Namespace
		}
		return k.Namespace
	}
	return a.Spec.SourceRef.Kind == b.Spec.SourceRef.Kind && a.Spec.SourceRef.Name == b.Spec.SourceRef.Name && ns(a) == ns(b)
}

// DependsOnChain returns every Kustomization ks depends on, directly or not, ordered
// so each comes after its own dependencies. A cycle or a missing dependency is an error.
func DependsOnChain(ctx context.Context, cluster *Cluster, ks *kustomizev1.Kustomization) ([]*kustomizev1.Kustomization, error) {
	var order []*kustomizev1.Kustomization
	state := map[client.ObjectKey]int{} // 1 visiting, 2 done
	var visit func(k *kustomizev1.Kustomization, path []string) error
	visit = func(k *kustomizev1.Kustomization, path []string) error {
		for _, d := range k.Spec.DependsOn {
			key := client.ObjectKey{Namespace: d.Namespace, Name: d.Name}
			if key.Namespace == "" {
				key.Namespace = k.Namespace
			}
			switch state[key] {
			case 2:
				continue
			case 1:
				return fmt.Errorf("dependsOn cycle: %s -> %s", strings.Join(path, " -> "), key)
			}
			state[key] = 1
			dep := &kustomizev1.Kustomization{}
			if err := cluster.Client.Get(ctx, key, dep); err != nil {
				if objectNotFound(err) {
					return fmt.Errorf("dependency %s of Kustomization %s/%s not found in context %q", key, k.Namespace, k.Name, cluster.Context)
				}
				return APIError(err, "get", "kustomizations.kustomize.toolkit.fluxcd.io", key.String(), cluster.Context)
			}
			if err := visit(dep, append(path, key.String())); err != nil {
				return err
			}
			state[key] = 2
			order = append(order, dep)
		}
		return nil
	}
	root := client.ObjectKeyFromObject(ks)
	state[root] = 1
	if err := visit(ks, []string{root.String()}); err != nil {
		return nil, err
	}
	return order, nil
}

// SourceOf reads the GitRepository a Kustomization reads from, or nil when it reads
// another kind of source.
func SourceOf(ctx context.Context, cluster *Cluster, ks *kustomizev1.Kustomization) (*sourcev1.GitRepository, error) {
	repo := &sourcev1.GitRepository{}
	if ok, err := readSource(ctx, cluster, ks, sourcev1.GitRepositoryKind, "gitrepositories", repo); !ok {
		return nil, err
	}
	return repo, nil
}

// readSource reads into obj the source ks reads, when it is of kind (resource is its
// plural, for errors); false when ks reads another kind, or on an error.
func readSource(ctx context.Context, cluster *Cluster, ks *kustomizev1.Kustomization, kind, resource string, obj client.Object) (bool, error) {
	if ks.Spec.SourceRef.Kind != kind {
		return false, nil
	}
	key := client.ObjectKey{Namespace: ks.Spec.SourceRef.Namespace, Name: ks.Spec.SourceRef.Name}
	if key.Namespace == "" {
		key.Namespace = ks.Namespace
	}
	if err := getShared(ctx, cluster, key, obj); err != nil {
		return false, APIError(err, "get", resource+".source.toolkit.fluxcd.io", key.String(), cluster.Context)
	}
	return true, nil
}

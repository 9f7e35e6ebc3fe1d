// Package gates decides whether a promotion may go ahead: the source environment has
// applied what is promoted and it is healthy, and the target can take it (not
// suspended, its dependsOn chain ready by kustomize-controller's own rule). Every gate
// is reported, pass or fail, so a user or a pipeline can see why.
package gates

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// SourceOptions tunes the source gates.
type SourceOptions struct {
	// MinSoak is how long the source must have been Ready on the applied revision.
	MinSoak time.Duration
	// Now is the clock; zero means time.Now.
	Now time.Time
}

// Source checks the source environment: Ready for its generation, not suspended,
// an applied revision (the one promoted), its health checks (and with spec.wait its
// applied workloads) Current by kstatus, and optionally a minimum soak time.
func Source(ctx context.Context, env *flux.Environment, o SourceOptions) v1alpha1.Gates {
	ks := env.Kustomization
	name := env.Name
	var set v1alpha1.Gates
	ready, why := flux.Ready(ks)
	set = append(set, gate("source-ready", name, ready, why, "Ready=True"))
	set = append(set, gate("source-suspended", name, !ks.Spec.Suspend,
		"reconciliation is suspended: resume it with \"flux resume kustomization "+ks.Name+" -n "+ks.Namespace+"\"", "not suspended"))
	applied := ks.Status.LastAppliedRevision
	switch {
	case applied == "":
		set = append(set, v1alpha1.Gate{Name: "source-applied", Environment: name, Message: "Flux has never applied this Kustomization"})
	case ks.Status.LastAttemptedRevision != "" && !flux.SameRevision(ks.Status.LastAttemptedRevision, applied):
		set = append(set, v1alpha1.Gate{Name: "source-applied", Environment: name,
			Message: fmt.Sprintf("Flux last attempted %s but has applied only %s", ks.Status.LastAttemptedRevision, applied)})
	default:
		set = append(set, v1alpha1.Gate{Name: "source-applied", Environment: name, Passed: true, Message: "applied " + applied})
	}
	set = append(set, Health(ctx, env, "source-health"))
	if o.MinSoak > 0 {
		set = append(set, Soak(env, o.MinSoak, o.Now, "--min-soak"))
	}
	return set
}

// Soak is the source-soak gate: the source has been Ready on its applied revision for
// at least min (now zero means time.Now); by names where min comes from (--min-soak,
// or the target's policy).
func Soak(env *flux.Environment, min time.Duration, now time.Time, by string) v1alpha1.Gate {
	ks := env.Kustomization
	name := env.Name
	applied := ks.Status.LastAppliedRevision
	if now.IsZero() {
		now = time.Now()
	}
	since, ok := readySince(ks)
	switch {
	case !ok:
		return v1alpha1.Gate{Name: "source-soak", Environment: name, Message: "cannot tell since when " + applied + " is Ready"}
	case now.Sub(since) < min:
		return v1alpha1.Gate{Name: "source-soak", Environment: name,
			Message: fmt.Sprintf("Ready on %s for %s, less than %s %s", applied, now.Sub(since).Round(time.Second), by, min)}
	}
	return v1alpha1.Gate{Name: "source-soak", Environment: name, Passed: true,
		Message: fmt.Sprintf("Ready on %s for %s (≥ %s)", applied, now.Sub(since).Round(time.Second), min)}
}

// readySince is when the Kustomization became Ready on its applied revision: its
// first successful reconcile of that revision (status.history), or the last failed
// reconcile of that revision after it, if any (the soak starts again once it
// recovers). The Ready condition's lastTransitionTime is used only without such a
// history (older Flux): kustomize-controller marks Ready Unknown at the start of every
// reconcile, so it moves at every interval even when nothing changed.
func readySince(ks *kustomizev1.Kustomization) (time.Time, bool) {
	var since, failed time.Time
	for _, snap := range ks.Status.History {
		rev, ok := snap.Metadata["revision"]
		if !ok || !flux.SameRevision(rev, ks.Status.LastAppliedRevision) {
			continue
		}
		if snap.LastReconciledStatus == meta.ReconciliationSucceededReason {
			if since.IsZero() || snap.FirstReconciled.Time.Before(since) {
				since = snap.FirstReconciled.Time
			}
		} else if snap.LastReconciled.Time.After(failed) {
			failed = snap.LastReconciled.Time
		}
	}
	if !since.IsZero() {
		if failed.After(since) {
			since = failed
		}
		return since, true
	}
	c := flux.Condition(ks.Status.Conditions, meta.ReadyCondition)
	if c != nil && c.Status == "True" {
		return c.LastTransitionTime.Time, true
	}
	return time.Time{}, false
}

// Target checks the target environment: not suspended, and every Kustomization in its
// dependsOn chain ready by kustomize-controller's rule.
func Target(ctx context.Context, env *flux.Environment) v1alpha1.Gates {
	ks := env.Kustomization
	name := env.Name
	set := v1alpha1.Gates{gate("target-suspended", name, !ks.Spec.Suspend,
		"reconciliation is suspended: resume it with \"flux resume kustomization "+ks.Name+" -n "+ks.Namespace+"\"", "not suspended")}
	chain, err := flux.DependsOnChain(ctx, env.Cluster, ks)
	if err != nil {
		return append(set, v1alpha1.Gate{Name: "target-dependencies", Environment: name, Message: err.Error()})
	}
	if len(chain) == 0 {
		return append(set, v1alpha1.Gate{Name: "target-dependencies", Environment: name, Passed: true, Message: "no dependsOn"})
	}
	var problems, names []string
	for _, dep := range chain {
		names = append(names, dep.Name)
		src, err := flux.SourceOf(ctx, env.Cluster, dep)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		// The rule compares a dependency with the Kustomization that depends on it
		// (whose dependsOn entry may carry a readyExpr): the target, or the member of
		// its chain that names it.
		if err := flux.DependencyReady(dep, dependentOf(dep, ks, chain), src); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return append(set, v1alpha1.Gate{Name: "target-dependencies", Environment: name, Message: strings.Join(problems, "; ")})
	}
	return append(set, v1alpha1.Gate{Name: "target-dependencies", Environment: name, Passed: true, Message: "ready: " + strings.Join(names, ", ")})
}

// dependentOf returns the Kustomization of target's dependsOn chain (target first)
// whose dependsOn names dep.
func dependentOf(dep, target *kustomizev1.Kustomization, chain []*kustomizev1.Kustomization) *kustomizev1.Kustomization {
	for _, k := range append([]*kustomizev1.Kustomization{target}, chain...) {
		for _, d := range k.Spec.DependsOn {
			ns := d.Namespace
			if ns == "" {
				ns = k.Namespace
			}
			if d.Name == dep.Name && ns == dep.Namespace {
				return k
			}
		}
	}
	return target
}

// Health computes kstatus for the Kustomization's health checks and, when spec.wait
// is set, for the workloads it applied (its inventory), in the environment's cluster;
// an object whose kind spec.healthCheckExprs covers is judged by those CEL
// expressions, through Flux's own status reader, as kustomize-controller does.
func Health(ctx context.Context, env *flux.Environment, gateName string) v1alpha1.Gate {
	objs := HealthObjects(env.Kustomization)
	if len(objs) == 0 {
		return v1alpha1.Gate{Name: gateName, Environment: env.Name, Passed: true, Message: "no health checks"}
	}
	var custom engine.StatusReader
	if exprs := env.Kustomization.Spec.HealthCheckExprs; len(exprs) > 0 {
		ctor, err := cel.NewStatusReader(exprs)
		if err != nil {
			return v1alpha1.Gate{Name: gateName, Environment: env.Name, Message: "spec.healthCheckExprs: " + err.Error()}
		}
		custom = ctor(env.Cluster.Client.RESTMapper())
	}
	var bad []string
	for _, o := range objs {
		res, err := objectStatus(ctx, env.Cluster, o, custom)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", describe(o), err))
			continue
		}
		if res.Status != status.CurrentStatus {
			bad = append(bad, fmt.Sprintf("%s is %s: %s", describe(o), res.Status, res.Message))
		}
	}
	if len(bad) > 0 {
		return v1alpha1.Gate{Name: gateName, Environment: env.Name, Message: strings.Join(bad, "; ")}
	}
	return v1alpha1.Gate{Name: gateName, Environment: env.Name, Passed: true, Message: fmt.Sprintf("%d objects Current", len(objs))}
}

// workloadKinds are the applied kinds whose health kstatus can judge and that matter
// for a promotion.
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true}

// HealthObjects are the objects whose health proves the Kustomization works: its
// healthChecks, plus its applied workloads when spec.wait is set.
func HealthObjects(ks *kustomizev1.Kustomization) []Object {
	seen := map[object.ObjMetadata]bool{}
	var out []Object
	add := func(o object.ObjMetadata, version string) {
		if !seen[o] {
			seen[o] = true
			out = append(out, Object{ObjMetadata: o, Version: version})
		}
	}
	for _, hc := range ks.Spec.HealthChecks {
		gv, _ := schema.ParseGroupVersion(hc.APIVersion)
		ns := hc.Namespace
		if ns == "" {
			ns = ks.Namespace
		}
		add(object.ObjMetadata{Namespace: ns, Name: hc.Name, GroupKind: schema.GroupKind{Group: gv.Group, Kind: hc.Kind}}, gv.Version)
	}
	if ks.Spec.Wait && ks.Status.Inventory != nil {
		for _, e := range ks.Status.Inventory.Entries {
			o, err := object.ParseObjMetadata(e.ID)
			if err == nil && o.GroupKind.Group == "apps" && workloadKinds[o.GroupKind.Kind] {
				add(o, e.Version)
			}
		}
	}
	return out
}

// Object is an object whose health is checked, with its API version.
type Object struct {
	object.ObjMetadata
	Version string
}

// ObjectStatus reads an object and computes its kstatus.
func ObjectStatus(ctx context.Context, cluster *flux.Cluster, o Object) (*status.Result, error) {
	return objectStatus(ctx, cluster, o, nil)
}

// objectStatus is ObjectStatus, with custom (when it supports the object's kind)
// computing the status instead of kstatus's built-in rules.
func objectStatus(ctx context.Context, cluster *flux.Cluster, o Object, custom engine.StatusReader) (*status.Result, error) {
	u := &unstructured.Unstructured{}
	var versions []string
	if o.Version != "" {
		versions = append(versions, o.Version)
	}
	mapping, err := cluster.Client.RESTMapper().RESTMapping(o.GroupKind, versions...)
	if err != nil {
		return nil, err
	}
	u.SetGroupVersionKind(mapping.GroupVersionKind)
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, u); err != nil {
		// The resource as RBAC and kubectl name it, "ingresses.networking.k8s.io".
		return nil, flux.APIError(err, "get", mapping.Resource.GroupResource().String(), o.Namespace+"/"+o.Name, cluster.Context)
	}
	if custom != nil && custom.Supports(o.GroupKind) {
		rs, err := custom.ReadStatusForObject(ctx, nil, u)
		if err != nil {
			return nil, err
		}
		msg := rs.Message
		if rs.Error != nil {
			msg = "healthCheckExprs: " + rs.Error.Error()
		}
		return &status.Result{Status: rs.Status, Message: msg}, nil
	}
	return status.Compute(u)
}

func describe(o Object) string {
	return fmt.Sprintf("%s/%s/%s", o.GroupKind.Kind, o.Namespace, o.Name)
}

func gate(name, env string, passed bool, failMsg, passMsg string) v1alpha1.Gate {
	if passed {
		return v1alpha1.Gate{Name: name, Environment: env, Passed: true, Message: passMsg}
	}
	return v1alpha1.Gate{Name: name, Environment: env, Message: failMsg}
}

package verify

import (
	"context"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/policy"
)

// Verifier runs, once a target is Ready, the checks given on the command line and
// those of the target's policy (policy.Policy.Checks), and keeps each target's
// results for the document. It lives beside the checks it runs, not in the
// promotion pipeline, which only calls it (a promote.Verifier): what a target's
// checks are and the environment they run with are this package's business.
type Verifier struct {
	Checks  Checks
	Options Options
	mu      sync.Mutex
	results map[string][]v1alpha1.CheckResult
}

// Verify runs the checks; a failed one is failed health.
func (v *Verifier) Verify(ctx context.Context, target *flux.Environment, revision string) error {
	cs, err := v.forTarget(target)
	if err != nil || cs.Empty() {
		return err
	}
	sha, _ := flux.CommitSHA(revision)
	env := Env{Target: target.Name, Context: target.Ref.Context, Namespace: target.Ref.Namespace, Kustomization: target.Ref.Name,
		Revision: revision, Commit: sha, Images: Images(ctx, target)}
	res, err := Run(ctx, cs, env, v.Options)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.results == nil {
		v.results = map[string][]v1alpha1.CheckResult{}
	}
	v.results[target.Name] = res
	return err
}

// forTarget is the command line's checks and the target's policy's.
func (v *Verifier) forTarget(target *flux.Environment) (Checks, error) {
	cs := v.Checks
	p, err := policy.Of(target.Kustomization)
	if err != nil {
		return cs, err
	}
	for _, c := range p.Checks {
		h, err := FromSpec(c, FromPolicy)
		if err != nil {
			return cs, err
		}
		cs.HTTP = append(cs.HTTP, h)
	}
	return cs, nil
}

// Results are the checks run for the target (by name), if any.
func (v *Verifier) Results(target string) []v1alpha1.CheckResult {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.results[target]
}

// Images are the container images of the workloads the target applied (its
// inventory), for a command check.
func Images(ctx context.Context, env *flux.Environment) []string {
	inv := env.Kustomization.Status.Inventory
	cur := env.Kustomization.DeepCopy()
	if err := env.Cluster.Client.Get(ctx, client.ObjectKeyFromObject(cur), cur); err == nil {
		inv = cur.Status.Inventory
	}
	if inv == nil {
		return nil
	}
	var out []string
	for _, e := range inv.Entries {
		o, err := object.ParseObjMetadata(e.ID)
		if err != nil || o.GroupKind.Group != "apps" || (o.GroupKind.Kind != "Deployment" && o.GroupKind.Kind != "StatefulSet" && o.GroupKind.Kind != "DaemonSet") {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apps/" + e.Version)
		u.SetKind(o.GroupKind.Kind)
		if err := env.Cluster.Client.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, u); err != nil {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			if m, ok := c.(map[string]any); ok {
				if img, ok := m["image"].(string); ok {
					out = append(out, img)
				}
			}
		}
	}
	return out
}

package status

import (
	"context"
	"os"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
)

// readOCI reads an environment whose Kustomization reads an OCIRepository: what it
// follows and applied (with the Git revision CI built it from), the images of the
// applied digest rendered as kustomize-controller renders it, and the last
// promotion the registry records for its tag.
func readOCI(ctx context.Context, o Options, env *flux.Environment, e v1alpha1.EnvironmentStatus) (v1alpha1.EnvironmentStatus, string, error) {
	src, ks := env.OCISource, env.Kustomization
	e.OCIRepository = src.Namespace + "/" + src.Name
	e.URL, e.Ref, e.Path = src.Spec.URL, flux.OCIRefOf(src).String(), ks.Spec.Path
	e.AppliedRevision, e.OriginRevision = ks.Status.LastAppliedRevision, ks.Status.LastAppliedOriginRevision
	e.Suspended = ks.Spec.Suspend
	e.Policy = describePolicy(ks, time.Now())
	e.Ready, e.Message = flux.Ready(ks)
	if e.Suspended {
		e.Ready, e.Message = false, "suspended; "+e.Message
	}
	applied, ok, err := flux.OCIAppliedOf(ks)
	if err != nil || !ok {
		return e, "", err
	}
	e.Tag = applied.Tag
	c, err := oci.ClientFor(ctx, env, o.Registry)
	if err != nil {
		return e, "", err
	}
	repo, err := c.Repository(src.Spec.URL)
	if err != nil {
		return e, "", err
	}
	dir, err := os.MkdirTemp("", "kubectl-promote-status-")
	if err != nil {
		return e, "", err
	}
	defer os.RemoveAll(dir)
	if _, err := c.Pull(ctx, repo, applied.Digest, src.Spec.LayerSelector, dir); err != nil {
		return e, "", err
	}
	out, err := render.Render(ctx, render.Input{Dir: dir, Kustomization: ks, Client: env.Cluster.Client})
	if err != nil {
		return e, "", err
	}
	e.Images = plan.RunningImages(out)
	if applied.Tag != "" {
		if _, recs, err := c.History(ctx, repo, applied.Tag, 1); err == nil && len(recs) > 0 {
			last := oci.Entry(recs[0])
			e.LastPromotion = &last
		}
	}
	return e, "", nil
}

package promote

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// whoAmI is the user as the target's API server authenticates it (a
// SelfSubjectReview), for the Promoted-By trailer. When the review is not allowed it
// falls back to the kubeconfig's user, marked as such.
func whoAmI(ctx context.Context, cluster *flux.Cluster) string {
	review := &authenticationv1.SelfSubjectReview{}
	if err := cluster.Client.Create(ctx, review); err == nil && review.Status.UserInfo.Username != "" {
		return review.Status.UserInfo.Username
	}
	if cluster.Config.Impersonate.UserName != "" {
		return cluster.Config.Impersonate.UserName
	}
	if cluster.Config.Username != "" {
		return cluster.Config.Username + " (kubeconfig)"
	}
	return "unknown (context " + cluster.Context + ")"
}

// checkPermissions makes sure the annotation that announces the commit to Flux will
// be allowed before anything is pushed, so a promotion is never left half made.
func checkPermissions(ctx context.Context, env *flux.Environment) error {
	checks := []struct{ group, resource, ns, name string }{
		{"source.toolkit.fluxcd.io", env.SourceResource(), env.SourceObject().GetNamespace(), env.SourceObject().GetName()},
		{"kustomize.toolkit.fluxcd.io", "kustomizations", env.Ref.Namespace, env.Ref.Name},
	}
	for _, c := range checks {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "patch", Group: c.group, Resource: c.resource, Namespace: c.ns, Name: c.name},
		}}
		if err := env.Cluster.Client.Create(ctx, review); err != nil {
			// Without the review API we cannot tell; the annotation will say.
			continue
		}
		if !review.Status.Allowed {
			return &flux.ForbiddenError{Verb: "patch", Resource: c.resource + "." + c.group, Object: c.ns + "/" + c.name, Context: env.Cluster.Context,
				Err: fmt.Errorf("needed to ask Flux to reconcile after the push, so nothing was pushed")}
		}
	}
	return nil
}

package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// AnnounceTimeout bounds the announcement of a pushed commit on its own: it runs
// even when --timeout has run out or the user pressed Ctrl-C after the push, so a
// pushed commit is announced whenever the API server answers at all.
const AnnounceTimeout = 30 * time.Second

// AnnounceRetrying is AnnounceAt, with a new token each attempt unless token is
// given, retried while the API server is unreachable (until ctx ends).
func AnnounceRetrying(ctx context.Context, env *flux.Environment, token string, sourceDone bool) (*v1alpha1.ReconcileOutcome, error) {
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 4*time.Second) {
		tok := token
		if tok == "" {
			tok = time.Now().UTC().Format(time.RFC3339Nano)
		}
		out, err := AnnounceAt(ctx, env, tok, sourceDone)
		var forbidden *flux.ForbiddenError
		if err == nil || errors.As(err, &forbidden) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(delay):
		}
	}
}

// SourceKey names the source (GitRepository or OCIRepository) env reads, in its cluster.
func SourceKey(env *flux.Environment) string {
	src := env.SourceObject()
	return env.Cluster.Context + "\x00" + env.SourceResource() + "/" + src.GetNamespace() + "/" + src.GetName()
}

// AnnounceSources asks Flux, once per GitRepository, to fetch the wave's commits:
// its targets mostly share one per cluster, and twenty requests at once to the same
// object made the API server retry its writes and source-controller fetch twenty
// times, each target's wait expecting its own request to be the one handled. It
// returns the token every target announces its Kustomization with, and the sources
// annotated; a target whose source could not be annotated here annotates it itself
// (and reports the failure as a single promotion does).
func AnnounceSources(ctx context.Context, targets []*flux.Environment) (string, map[string]bool) {
	token := time.Now().UTC().Format(time.RFC3339Nano)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), AnnounceTimeout)
	defer cancel()
	sources := map[string]*flux.Environment{}
	for _, env := range targets {
		if k := SourceKey(env); sources[k] == nil {
			sources[k] = env
		}
	}
	done := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k, env := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if Annotate(actx, env.Cluster, env.SourceObject().DeepCopyObject().(client.Object), token) == nil {
				mu.Lock()
				done[k] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return token, done
}

// CanAnnounce makes sure the annotation that announces a commit to env will be
// allowed, asked before anything is pushed so that a promotion is never left half
// made.
func CanAnnounce(ctx context.Context, env *flux.Environment) error {
	checks := []struct{ group, resource, ns, name string }{
		{"source.toolkit.fluxcd.io", env.SourceResource(), env.SourceObject().GetNamespace(), env.SourceObject().GetName()},
		{"kustomize.toolkit.fluxcd.io", "kustomizations", env.Ref.Namespace, env.Ref.Name},
	}
	for _, c := range checks {
		// The targets of a fleet share their source: asked once (flux.WithSharedReads).
		allowed, err := flux.Shared(ctx, "patch\x00"+env.Cluster.Context+"\x00"+c.group+"/"+c.resource+"/"+c.ns+"/"+c.name, func() (bool, error) {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "patch", Group: c.group, Resource: c.resource, Namespace: c.ns, Name: c.name},
			}}
			err := env.Cluster.Client.Create(ctx, review)
			return review.Status.Allowed, err
		})
		if err != nil {
			// Without the review API we cannot tell; the annotation will say.
			continue
		}
		if !allowed {
			return &flux.ForbiddenError{Verb: "patch", Resource: c.resource + "." + c.group, Object: c.ns + "/" + c.name, Context: env.Cluster.Context,
				Err: fmt.Errorf("needed to ask Flux to reconcile after the push, so nothing was pushed")}
		}
	}
	return nil
}

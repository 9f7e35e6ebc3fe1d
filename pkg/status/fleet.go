package status

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// FleetConcurrency bounds how many clusters a fleet status reads at once, so that a
// fleet of hundreds opens a bounded number of connections.
const FleetConcurrency = 32

// ContextTimeout bounds the reading of one cluster's Kustomizations: a cluster that
// does not answer (down, or behind a listener that never replies) is one failure,
// after this long at most, while the others are read.
var ContextTimeout = 5 * time.Second

// ContextError is a cluster of a fleet that could not be listed.
type ContextError struct {
	Context string
	Err     error
}

func (e *ContextError) Error() string { return fmt.Sprintf("context %s: %v", e.Context, e.Err) }
func (e *ContextError) Unwrap() error { return e.Err }

// FleetEnvs lists the environments of every context given, FleetConcurrency at a
// time, each within ContextTimeout: each context's Flux Kustomizations in namespace
// ("" for every namespace), or only the one named name when name is set, in context
// order and sorted within a context. A cluster that cannot be listed is one
// *ContextError among failed, in context order; the others are listed all the same.
func FleetEnvs(ctx context.Context, clients *flux.Clients, contexts []string, namespace, name string) (envs []flux.RefSpec, failed []*ContextError) {
	lists := make([][]flux.Ref, len(contexts))
	errs := make([]*ContextError, len(contexts))
	var g errgroup.Group
	g.SetLimit(FleetConcurrency)
	for i, c := range contexts {
		g.Go(func() error {
			if _, err := clients.Cluster(c); err != nil {
				errs[i] = &ContextError{Context: c, Err: err}
				return nil
			}
			// The timeout is the cluster's answer's, not the building of its client's.
			cctx, cancel := context.WithTimeout(ctx, ContextTimeout)
			defer cancel()
			refs, err := clients.KustomizationRefs(cctx, c, namespace)
			if err != nil {
				if cctx.Err() != nil && ctx.Err() == nil {
					err = fmt.Errorf("the API server did not answer within %s: check the cluster is up and reachable", ContextTimeout)
				}
				errs[i] = &ContextError{Context: c, Err: err}
			}
			lists[i] = refs
			return nil
		})
	}
	_ = g.Wait()
	for i, refs := range lists {
		if errs[i] != nil {
			failed = append(failed, errs[i])
		}
		for _, r := range refs {
			if name != "" && r.Name != name {
				continue
			}
			envs = append(envs, flux.RefSpec{Raw: r.String(), Ref: r})
		}
	}
	return envs, failed
}

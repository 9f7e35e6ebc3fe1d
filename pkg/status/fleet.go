package status

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// FleetEnvs lists the environments of every context given, read in parallel: each
// context's Flux Kustomizations in namespace ("" for every namespace), or only the
// one named name when name is set, in context order and sorted within a context.
// A cluster that cannot be listed is an error naming it.
func FleetEnvs(ctx context.Context, clients *flux.Clients, contexts []string, namespace, name string) ([]flux.RefSpec, error) {
	lists := make([][]flux.Ref, len(contexts))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range contexts {
		g.Go(func() error {
			refs, err := clients.KustomizationRefs(gctx, c, namespace)
			if err != nil {
				return fmt.Errorf("context %s: %w", c, err)
			}
			lists[i] = refs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []flux.RefSpec
	for _, refs := range lists {
		for _, r := range refs {
			if name != "" && r.Name != name {
				continue
			}
			out = append(out, flux.RefSpec{Raw: r.String(), Ref: r})
		}
	}
	return out, nil
}

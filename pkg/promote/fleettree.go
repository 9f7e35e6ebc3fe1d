package promote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
)

// branchTree is one checkout of a branch's head shared by every target of a fleet
// that reads the branch: checking the whole tree out once per target was most of a
// fleet's overhead. The targets are planned on it one at a time, each plan's edit
// undone before the next, so every target is planned on the head exactly as it is,
// as if it had a checkout of its own.
type branchTree struct {
	mu        sync.Mutex
	head, dir string
	// broken is set when an edit could not be undone: no later plan may use the tree.
	broken error
}

// plan is plan.Compute of w's target on the tree, the tree left as it was.
func (t *branchTree) plan(ctx context.Context, w *Workspace) (*plan.Plan, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return nil, t.broken
	}
	pl, err := plan.Compute(ctx, w.planInput(t.dir))
	if err != nil {
		return nil, err // Compute leaves the tree as it was on error
	}
	var errs []error
	for _, f := range pl.Files {
		if err := os.WriteFile(filepath.Join(t.dir, filepath.FromSlash(f.Path)), f.Before, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.broken = fmt.Errorf("undoing the plan of %s in the shared checkout of %s: %w", w.Target.Name, t.head, err)
		return nil, t.broken
	}
	return pl, nil
}

// treeSharer is a strategy that plans on the shared checkout of its branch's head.
type treeSharer interface{ sharesTree() }

// shareTrees checks out, once per branch, the head of every branch the targets
// read, and has each target planned on its branch's checkout.
func (p *pipeline) shareTrees(ctx context.Context) error {
	trees := map[string]*branchTree{}
	for _, t := range p.all() {
		branch := t.w.TargetRef.Branch
		if _, ok := t.strategy.(treeSharer); !ok {
			continue
		}
		if tree := trees[branch]; tree != nil {
			t.w.tree = tree
			continue
		}
		head, err := t.w.targetHead(ctx)
		if err != nil {
			return p.named(t, err)
		}
		dir, err := p.base.checkout(ctx, head, "target")
		if err != nil {
			return p.named(t, err)
		}
		trees[branch] = &branchTree{head: head, dir: dir}
		t.w.tree = trees[branch]
	}
	return nil
}

// sourceKey names the GitRepository env reads, in its cluster.
func sourceKey(env *flux.Environment) string {
	src := env.SourceObject()
	return env.Cluster.Context + "\x00" + env.SourceResource() + "/" + src.GetNamespace() + "/" + src.GetName()
}

// announceSources asks Flux, once per GitRepository, to fetch the wave's commits:
// its targets mostly share one per cluster, and twenty requests at once to the same
// object made the API server retry its writes and source-controller fetch twenty
// times, each target's wait expecting its own request to be the one handled. It
// returns the token every target announces its Kustomization with, and the sources
// annotated; a target whose source could not be annotated here annotates it itself
// (and reports the failure as a single promotion does).
func announceSources(ctx context.Context, targets []*flux.Environment) (string, map[string]bool) {
	token := time.Now().UTC().Format(time.RFC3339Nano)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	sources := map[string]*flux.Environment{}
	for _, env := range targets {
		if k := sourceKey(env); sources[k] == nil {
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
			if reconcile.Annotate(actx, env.Cluster, env.SourceObject().DeepCopyObject().(client.Object), token) == nil {
				mu.Lock()
				done[k] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return token, done
}

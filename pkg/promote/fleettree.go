package promote

import (
	"context"
	"runtime"

	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
)

// treeSharer is a strategy that plans on the shared checkout of its branch's head.
type treeSharer interface{ sharesTree() }

// plansPerTree is how many of a branch's targets one checkout of its head is worth:
// a fleet's targets are planned on up to GOMAXPROCS checkouts at once (a checkout
// costs a few plans' time), the plans of one checkout one after another.
var plansPerTree = 8

// shareTrees checks out the head of every branch the targets read, once per
// plansPerTree of its targets (at most GOMAXPROCS times), and has each target
// planned on one of its branch's checkouts.
func (p *pipeline) shareTrees(ctx context.Context) error {
	byBranch := map[string][]*target{}
	var branches []string
	for _, t := range p.all() {
		if _, ok := t.strategy.(treeSharer); !ok {
			continue
		}
		b := t.w.TargetRef.Branch
		if byBranch[b] == nil {
			branches = append(branches, b)
		}
		byBranch[b] = append(byBranch[b], t)
	}
	for _, b := range branches {
		ts := byBranch[b]
		head, err := ts[0].w.targetHead(ctx)
		if err != nil {
			return p.named(ts[0], err)
		}
		trees := make([]*plan.SharedTree, min(runtime.GOMAXPROCS(0), (len(ts)+plansPerTree-1)/plansPerTree))
		for i := range trees {
			dir, err := p.base.checkout(ctx, head, "target")
			if err != nil {
				return p.named(ts[0], err)
			}
			trees[i] = &plan.SharedTree{Head: head, Dir: dir}
		}
		for i, t := range ts {
			t.w.tree = trees[i%len(trees)]
		}
	}
	return nil
}

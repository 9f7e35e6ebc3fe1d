package promote

import (
	"context"

	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
)

// treeSharer is a strategy that plans on the shared checkout of its branch's head.
type treeSharer interface{ sharesTree() }

// shareTrees checks out, once per branch, the head of every branch the targets
// read, and has each target planned on its branch's checkout.
func (p *pipeline) shareTrees(ctx context.Context) error {
	trees := map[string]*plan.SharedTree{}
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
		trees[branch] = &plan.SharedTree{Head: head, Dir: dir}
		t.w.tree = trees[branch]
	}
	return nil
}

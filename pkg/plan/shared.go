package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// SharedTree is one checkout of a branch's head shared by several plans (the
// targets of a fleet that read the branch): checking the whole tree out once per
// target was most of a fleet's overhead. The plans are computed on it one at a
// time, each one's edit undone before the next, so every plan is made on the head
// exactly as it is, as if it had a checkout of its own.
type SharedTree struct {
	mu        sync.Mutex
	Head, Dir string
	// broken is set when an edit could not be undone: no later plan may use the tree.
	broken error
}

// Compute is Compute of in on the tree (in.TargetDir is the tree's), the tree left
// as it was.
func (t *SharedTree) Compute(ctx context.Context, in Input) (*Plan, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return nil, t.broken
	}
	in.TargetDir = t.Dir
	pl, err := Compute(ctx, in)
	if err != nil {
		return nil, err // Compute leaves the tree as it was on error
	}
	var errs []error
	for _, f := range pl.Files {
		if err := os.WriteFile(filepath.Join(t.Dir, filepath.FromSlash(f.Path)), f.Before, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.broken = fmt.Errorf("undoing the plan of Kustomization %s/%s in the shared checkout of %s: %w", in.Target.Namespace, in.Target.Name, t.Head, err)
		return nil, t.broken
	}
	return pl, nil
}

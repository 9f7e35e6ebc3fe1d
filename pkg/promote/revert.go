package promote

import (
	"context"
	"fmt"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// revert reverts commits (newest first) on branch as one new commit and pushes it,
// retrying on a race like a promotion. A revert that conflicts pushes nothing.
func revert(ctx context.Context, r *repo.Repo, branch string, shas []string, subject string, trailers []repo.Trailer, author repo.Signature, attempts int) (*repo.PushResult, *repo.CommitSpec, error) {
	var spec *repo.CommitSpec
	pushed, err := r.CommitAndPush(ctx, branch, func(ctx context.Context, head, dir string) (*repo.CommitSpec, error) {
		for _, sha := range shas {
			if _, err := r.RevertInto(ctx, sha, dir); err != nil {
				return nil, err
			}
		}
		spec = &repo.CommitSpec{Message: subject, Trailers: trailers, Author: author}
		return spec, nil
	}, repo.PushOptions{MaxAttempts: attempts})
	return pushed, spec, err
}

// rollbackFailed reverts a promotion whose target failed health, pushes, asks Flux to
// reconcile and waits for the target to be Ready on the revert.
func rollbackFailed(ctx context.Context, r *repo.Repo, dst *flux.Environment, branch, promoted string, author repo.Signature, by string, o Options) *v1alpha1.AutoRollback {
	p := o.Progress
	p.Doing("rolling back %s on branch %s", repo.ShortSHA(promoted), branch)
	out := &v1alpha1.AutoRollback{}
	subject := fmt.Sprintf("rollback(%s): revert %s, the target failed health", dst.Name, repo.ShortSHA(promoted))
	trailers := []repo.Trailer{
		{Key: history.TrailerRolledBack, Value: promoted},
		{Key: history.TrailerTo, Value: dst.Ref.String()},
		{Key: history.TrailerBy, Value: by},
		{Key: history.TrailerReason, Value: "--rollback-on-failure: the promoted revision failed health"},
	}
	pushed, spec, err := revert(ctx, r, branch, []string{promoted}, subject, trailers, author, o.PushAttempts)
	if err != nil {
		out.Error = err.Error()
		p.Failed("rollback failed: %v", err)
		return out
	}
	out.Commit = commitOf(pushed, spec, branch)
	p.Done("pushed rollback %s to branch %s", repo.ShortSHA(pushed.Commit), branch)
	rctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	// Read the target again: the failed reconcile changed its status.
	rout, err := reconcile.Run(rctx, dst, pushed.Commit, reconcile.Options{Wait: true, Progress: p})
	out.Reconcile = rout
	if err != nil {
		out.Error = err.Error()
		p.Failed("rollback pushed but the target did not become Ready: %v", err)
	} else {
		p.Done("rolled back: %s is Ready on %s", dst.Name, rout.AppliedRevision)
	}
	return out
}

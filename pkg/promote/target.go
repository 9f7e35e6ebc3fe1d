package promote

import (
	"cmp"
	"context"
	"os"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// target is one target of a pipeline: what each phase found for it, and its result.
type target struct {
	spec     flux.RefSpec
	o        *Options
	wave     int
	progress Progress
	res      *v1alpha1.Promotion
	dst      *flux.Environment
	w        *Workspace
	strategy Strategy
	gates    v1alpha1.Gates
	change   *Proposal
	// pending is a promotion an earlier run pushed to the target's branch and Flux
	// has not applied (the announcement failed): this run announces it.
	pending string
	// review is the target's pull requests, with --review.
	review *review.Session
}

// use takes the two environments as read, chooses the strategy through the
// source's kind and refuses, in one place (refusals.go), what the strategy cannot do
// in the modes asked for.
func (t *target) use(ctx context.Context, src *flux.Environment, m modes) error {
	dst := t.dst
	source, err := sourceOf(dst)
	if err != nil {
		return err
	}
	t.w = &Workspace{Source: src, Target: dst, SourceRef: flux.RefOf(src.Source), TargetRef: flux.RefOf(dst.Source),
		Filter: t.o.Filter, SourceRevision: src.Kustomization.Status.LastAppliedRevision, pushAttempts: t.o.PushAttempts, source: source, registry: t.o.Registry,
		git: openOptions{progress: t.progress, auth: t.o.Auth, repoDir: t.o.RepoDir, key: t.o.SignKey}}
	t.res.Source = describeEnv(src, t.w.SourceRef, t.w.SourceRevision)
	t.res.Target = describeEnv(dst, t.w.TargetRef, "")
	s, err := source.Choose(t.w, t.o.Strategy, t.o.FFOnly, t.o.Tag)
	if err != nil {
		return err
	}
	if err := refuse(s, t.w, m); err != nil {
		return err
	}
	t.strategy = s
	t.res.Strategy = s.Name()
	t.res.FastForward = t.o.FFOnly
	pr := t.progress
	if t.res.Signing, err = sign.CheckEnv(ctx, dst, t.o.SignKey, pr); err != nil {
		return err
	}
	if t.o.FFOnly && t.res.Signing != nil && sign.Verifies(t.res.Signing.Verify, false) {
		pr.Failed("--ff-only makes no commit to sign: GitRepository %s/%s verifies HEAD, so the source's commit must itself be signed by a key it trusts", dst.Source.Namespace, dst.Source.Name)
	}
	pr.Done("source %s: Kustomization %s/%s applied %s", src.Name, src.Ref.Namespace, src.Ref.Name, cmp.Or(t.w.SourceRevision, "nothing yet"))
	pr.Done("target %s: Kustomization %s/%s tracks %s path %s", dst.Name, dst.Ref.Namespace, dst.Ref.Name, tracks(dst), dst.Kustomization.Spec.Path)
	return nil
}

// plan is the strategy's plan, shown in the result.
func (t *target) plan(ctx context.Context) error {
	c, err := t.strategy.Plan(ctx, t.w)
	if err != nil {
		return err
	}
	t.change = c
	t.res.Target.Revision = c.Branch + "@sha1:" + c.Head
	if c.TargetRevision != "" {
		t.res.Target.Revision = c.TargetRevision
	}
	t.res.Tag = c.Tag
	t.res.Artifact = c.Artifact
	if c.Pin != nil {
		t.res.Pin = c.Pin.describe()
	}
	fillPlan(t.res, c.Plan)
	t.res.CommitCount = c.CommitCount
	for _, cm := range c.Commits {
		t.res.Commits = append(t.res.Commits, v1alpha1.PromotedCommit{SHA: cm.SHA, Subject: cm.Subject, Author: cm.Author.String()})
	}
	return nil
}

// pendingPromotion is the newest promotion or rollback to the target on its branch,
// when the target has not applied a revision containing it; "" when it has.
func (t *target) pendingPromotion(ctx context.Context) (string, error) {
	w := t.w
	if w.Repo == nil {
		return "", nil // an OCI target: no commit pending
	}
	entries, err := history.Read(ctx, w.Repo, t.change.Branch, w.Target.Kustomization.Spec.Path, w.Target.Ref.String(), 0)
	if err != nil {
		return "", err
	}
	to := w.Target.Ref.String()
	for _, e := range entries {
		if e.To != to {
			continue
		}
		applied := w.Target.Kustomization.Status.LastAppliedRevision
		if applied != "" {
			sha, err := flux.CommitSHA(applied)
			if err != nil {
				return "", nil
			}
			if ok, err := w.Repo.IsAncestor(ctx, e.Commit, sha); err != nil || ok {
				return "", err
			}
		}
		return e.Commit, nil
	}
	return "", nil
}

// share gives the workspace the repository and the source's checkout and render of
// base, and a scratch space of its own.
func (w *Workspace) share(base *Workspace, srcOut *render.Output) error {
	w.Repo, w.SourceCommit, w.SourceDir, w.sourceRender = base.Repo, base.SourceCommit, base.SourceDir, srcOut
	var err error
	w.Scratch, err = os.MkdirTemp("", "kubectl-promote-target-")
	return err
}

// targetNames joins the targets' environment names.
func targetNames(ts []*target) string {
	return names(ts, func(t *target) string { return t.w.Target.Name })
}

// names joins name of every target.
func names(ts []*target, name func(*target) string) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = name(t)
	}
	return strings.Join(out, ", ")
}

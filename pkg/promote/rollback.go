package promote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// Outcomes of a rollback.
const OutcomeRolledBack = "rolled-back"

// RollbackOptions is one rollback, as `kubectl promote rollback` describes it.
type RollbackOptions struct {
	Env flux.RefSpec
	// To is --to-revision, a promotion commit (a SHA, a prefix of at least 7, or a Flux revision):
	// every later promotion is reverted so the environment runs what it ran then.
	// Empty reverts the last promotion.
	To      string
	Reason  string
	RepoDir string
	Auth    repo.Auth
	Author  *repo.Signature
	// SignKey, when set, signs the revert commit (--sign-key).
	SignKey *sign.Key
	DryRun  bool
	Wait    bool
	Timeout time.Duration
	Confirm func(*v1alpha1.Rollback) (bool, error)
	// Preview is called with the plan before Confirm.
	Preview      func(*v1alpha1.Rollback)
	Progress     Progress
	PushAttempts int
	// Review, when set (--review), proposes the revert as a pull request.
	Review *ReviewOptions
	// Force rolls back even when the target's policy closes rollbacks now (a deny
	// window "including rollbacks"; the revert's Promote-Gates trailer records it),
	// and moves an OCI environment's tag back even when someone moved it since the
	// last promotion. Registry is how an OCI environment's registry is reached
	// (oci.go).
	Force    bool
	Registry oci.Options
}

// ErrNothingToRollBack says the environment has no live promotion to revert.
var ErrNothingToRollBack = history.ErrNothingToRollBack

// RunRollback reverts the last promotion to an environment (or every promotion after
// --to-revision), as one commit pushed to the branch it tracks, then announces and
// follows it like a promotion: the same phases (load, fetch, plan, decide, write,
// follow) with a revert as the change.
func RunRollback(ctx context.Context, clients *flux.Clients, o RollbackOptions) (*v1alpha1.Rollback, error) {
	if o.PushAttempts <= 0 {
		o.PushAttempts = DefaultPushAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	res := v1alpha1.NewRollback(o.Env.Raw)
	res.Outcome = OutcomeFailed
	rb := &rollback{o: o, clients: clients, res: res}
	defer rb.close()
	err := rb.run(ctx)
	if err != nil {
		res.Error = err.Error()
		res.Outcome = outcomeOf(err)
	}
	return res, err
}

// rollback is one RunRollback: the target's workspace, the strategy whose Undo
// lands the revert through the channel (a push, or with --review a pull request),
// as --rollback-on-failure's undo does.
type rollback struct {
	o        RollbackOptions
	clients  *flux.Clients
	res      *v1alpha1.Rollback
	w        *Workspace
	strategy Strategy
	channel  Channel
	u        *undo
}

func (rb *rollback) run(ctx context.Context) error {
	before, cancel := context.WithTimeout(ctx, rb.o.Timeout)
	defer cancel()
	if err := rb.load(before); err != nil {
		return err
	}
	if err := rb.w.source.Open(before, rb.w, openOptions{progress: rb.o.Progress, auth: rb.o.Auth, repoDir: rb.o.RepoDir, key: rb.o.SignKey}); err != nil {
		return err
	}
	if err := rb.plan(before); err != nil {
		return err
	}
	if rb.o.DryRun {
		rb.res.Outcome = OutcomeDryRun
		rb.o.Progress.Done("dry run: nothing was committed, pushed or annotated")
		return nil
	}
	author, err := readyToWrite(before, rb.w.Target, rb.w.Repo, rb.o.Author, func() (bool, error) { return confirm(rb.o.Confirm, rb.res) })
	if err != nil {
		return err
	}
	after, cancel := context.WithTimeout(ctx, rb.o.Timeout)
	defer cancel()
	rb.u.author, rb.u.by = author, flux.WhoAmI(after, rb.w.Target.Cluster)
	done, err := rb.strategy.Undo(after, rb.w, rb.channel, rb.u)
	if err = rb.landed(done, err); err != nil || done.follow == "" {
		return err
	}
	rb.res.Outcome = OutcomeRolledBack
	out, err := followUp(after, rb.w, done.follow, followOptions{wait: rb.o.Wait, progress: rb.o.Progress, via: done.via})
	rb.res.Reconcile = out
	return err
}

// load reads the environment, chooses the strategy that undoes its promotions
// through its source, and refuses, in refusals.go's table, what it cannot do.
func (rb *rollback) load(ctx context.Context) error {
	env, err := flux.LoadAny(ctx, rb.clients, rb.o.Env)
	if err != nil {
		return err
	}
	source, err := sourceOf(env)
	if err != nil {
		return err
	}
	w := &Workspace{Target: env, TargetRef: flux.RefOf(env.Source), pushAttempts: rb.o.PushAttempts, source: source, registry: rb.o.Registry,
		git: openOptions{progress: rb.o.Progress, auth: rb.o.Auth, repoDir: rb.o.RepoDir, key: rb.o.SignKey}}
	rb.w = w
	rb.u = &undo{to: []string{env.Ref.String()}, names: env.Name, reason: rb.o.Reason, revision: rb.o.To, force: rb.o.Force,
		attempts: rb.o.PushAttempts, progress: rb.o.Progress, wait: rb.o.Wait}
	rb.res.Target = describeEnv(env, w.TargetRef, "")
	undoer, ok := source.(rollbackSource)
	if !ok {
		return fmt.Errorf("%s reads a %s, which \"kubectl promote rollback\" cannot roll back", env.Name, env.Kustomization.Spec.SourceRef.Kind)
	}
	if rb.strategy, err = undoer.ChooseUndo(w, rb.u); err != nil {
		return err
	}
	if rb.res.Signing, err = sign.CheckEnv(ctx, env, rb.o.SignKey, rb.o.Progress); err != nil {
		return err
	}
	if rb.u.gates, err = rollbackAllowed(env, rb.o.Force, rb.o.Progress); err != nil {
		return err
	}
	if err := refuse(rb.strategy, w, modes{review: rb.o.Review != nil, rollback: true, toRevision: rb.o.To != ""}); err != nil {
		return err
	}
	rb.channel, err = newRollbackChannel(w, rb.o.Review, rb.o.Progress)
	return err
}

// promotionsFrom is where the promotions to env are read: the branch its
// GitRepository tracks, or for a tag target (a semver range, a pinned tag) the
// commit it applied, whose history holds the promotions it runs.
func promotionsFrom(env *flux.Environment, ref flux.GitRef) (string, error) {
	if !ref.ReachedByTags() {
		if ref.Branch == "" {
			return "", ref.Unsupported(env)
		}
		return ref.Branch, nil
	}
	rev := env.Kustomization.Status.LastAppliedRevision
	if rev == "" {
		return "", fmt.Errorf("%s has applied nothing yet: there is no promotion to roll back", env.Name)
	}
	return flux.CommitSHA(rev)
}

// plan has the strategy plan its undo (by default, the Git promotions to revert
// read and their revert previewed on the target's branch, which also refuses a
// conflicting one) before anything is written.
func (rb *rollback) plan(ctx context.Context) error {
	var err error
	if p, ok := rb.strategy.(undoPlanner); ok {
		err = p.planUndo(ctx, rb.w, rb.u, rb.res)
	} else {
		err = planRevert(ctx, rb.w, rb.u, rb.res)
	}
	if err != nil {
		return err
	}
	if rb.o.Preview != nil {
		rb.o.Preview(rb.res)
	}
	return nil
}

// undoPlanner is a strategy whose undo is planned its own way (the tag strategy: a
// new tag, or the previous pin; an OCI strategy: the tag moved back); the others'
// is planRevert.
type undoPlanner interface {
	planUndo(ctx context.Context, w *Workspace, u *undo, res *v1alpha1.Rollback) error
}

// planRevert previews the revert of u's promotions on the branch the target tracks.
func planRevert(ctx context.Context, w *Workspace, u *undo, res *v1alpha1.Rollback) error {
	if err := toRevert(ctx, w, u, res); err != nil {
		return err
	}
	head, err := w.Repo.BranchHead(ctx, u.branch)
	if err != nil {
		return err
	}
	res.Target.Revision = u.branch + "@sha1:" + head
	res.Files, err = w.previewRevert(ctx, head, u.entries)
	u.files = res.Files
	return err
}

// toRevert reads the Git promotions u reverts from u.from: the last one, or every
// one after --to-revision.
func toRevert(ctx context.Context, w *Workspace, u *undo, res *v1alpha1.Rollback) error {
	env := w.Target
	entries, err := history.Read(ctx, w.Repo, u.from, env.Kustomization.Spec.Path, env.Ref.String(), 0)
	if err != nil {
		return err
	}
	u.entries, err = history.ToRevert(entries, u.revision, env.Name)
	res.Reverted = u.entries
	return err
}

// landed records what the undo landed. A push that did not land says: nothing to
// do when the branch had the revert already, unannounced when its outcome is
// unknown, a lost race as such. A pull request left open says how it rolls back.
func (rb *rollback) landed(done *undone, err error) error {
	if done != nil {
		rb.res.Commit, rb.res.PullRequest, rb.res.Artifact = done.commit, done.pr, done.artifact
		if done.via != nil && rb.res.Pin != nil {
			rb.res.Pin.Commit = done.via.commit
		}
	}
	u := rb.u
	switch {
	case err == nil && done.noop:
		return fmt.Errorf("%w: %s already rolled back on branch %s (another rollback landed first; see \"kubectl promote history\")", ErrNothingToRollBack, strings.Join(shortAll(u.entries), ", "), u.branch)
	case errors.Is(err, repo.ErrRaceLost):
		return fmt.Errorf("%w (the tag or branch %q moved); nothing of this rollback was pushed: run it again", err, u.branch)
	case err != nil:
		if c, uerr := unannounced(err, rb.w.Target); c != nil {
			rb.res.Commit = c
			return uerr
		}
		return err
	case done.pr != nil && done.follow == "":
		rb.res.Outcome = OutcomeReviewOpen
		rb.o.Progress.Done("nothing was announced to Flux: merging the pull request rolls back (--wait follows it)")
	}
	return nil
}

func (rb *rollback) close() {
	if rb.w != nil {
		rb.w.close()
	}
}

// previewRevert applies the reverts to a scratch checkout of head and diffs the result
// against head, which also refuses a conflicting revert before anything is written.
func (w *Workspace) previewRevert(ctx context.Context, head string, entries []v1alpha1.HistoryEntry) ([]v1alpha1.File, error) {
	orig, err := w.checkout(ctx, head, "head")
	if err != nil {
		return nil, err
	}
	tree, err := w.checkout(ctx, head, "revert")
	if err != nil {
		return nil, err
	}
	files, err := history.RevertInto(ctx, w.Repo, entries, tree)
	var out []v1alpha1.File
	for _, f := range files {
		before, _ := os.ReadFile(filepath.Join(orig, filepath.FromSlash(f)))
		after, _ := os.ReadFile(filepath.Join(tree, filepath.FromSlash(f)))
		out = append(out, v1alpha1.File{Path: f, Diff: plan.FileChange{Path: f, Before: before, After: after}.UnifiedDiff()})
	}
	return out, err
}

func shortAll(entries []v1alpha1.HistoryEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = repo.ShortSHA(e.Commit)
	}
	return out
}

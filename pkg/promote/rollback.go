package promote

import (
	"context"
	"errors"
	"fmt"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
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
	// (ocihistory.go).
	Force    bool
	Registry oci.Options
}

// ErrNothingToRollBack says the environment has no live promotion to revert.
var ErrNothingToRollBack = errors.New("nothing to roll back")

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

// rollback is one RunRollback.
type rollback struct {
	o       RollbackOptions
	clients *flux.Clients
	res     *v1alpha1.Rollback
	w       *Workspace
	branch  string
	shas    []string
	// tag is set for a target that follows a semver range or pins a tag (tagrollback.go).
	tag    *tagRollback
	review *reviewer // with --review
	// gates is the revert's Promote-Gates trailer: set when --force passed a closed window.
	gates string
}

func (rb *rollback) run(ctx context.Context) error {
	before, cancel := context.WithTimeout(ctx, rb.o.Timeout)
	defer cancel()
	if err := rb.load(before); err != nil {
		return err
	}
	if rb.w.Target.OCISource != nil {
		return rb.runOCI(ctx, before)
	}
	if err := rb.w.open(before, rb.o.Progress, rb.o.Auth, rb.o.RepoDir, rb.o.SignKey); err != nil {
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
	pushed, step, err := rb.write(after, author)
	if err != nil || pushed == "" {
		return err
	}
	out, err := followUp(after, rb.w, pushed, followOptions{wait: rb.o.Wait, progress: rb.o.Progress, via: step})
	rb.res.Reconcile = out
	return err
}

// load reads the environment.
func (rb *rollback) load(ctx context.Context) error {
	env, err := flux.LoadAny(ctx, rb.clients, rb.o.Env)
	if err != nil {
		return err
	}
	if env.OCISource != nil {
		rb.w = &Workspace{Target: env, registry: rb.o.Registry}
		rb.res.Target = describeOCI(env, env.Kustomization.Status.LastAppliedRevision)
		_, err := rollbackAllowed(env, rb.o.Force, rb.o.Progress) // a registry write has no trailer
		return err
	}
	rb.w = &Workspace{Target: env, TargetRef: flux.RefOf(env.Source), pushAttempts: rb.o.PushAttempts}
	if rb.w.TargetRef.SemVer != "" || PinnedTag(rb.w.TargetRef) != "" {
		sha, err := appliedCommit(env)
		if err != nil {
			return err
		}
		rb.tag = &tagRollback{applied: sha}
	} else if rb.w.TargetRef.Branch == "" {
		return unsupportedRef(env, rb.w.TargetRef)
	}
	rb.branch = rb.w.TargetRef.Branch
	rb.res.Target = describeEnv(env, rb.w.TargetRef, "")
	if rb.res.Signing, err = checkSigning(ctx, env, rb.o.SignKey, rb.o.Progress); err != nil {
		return err
	}
	if rb.gates, err = rollbackAllowed(env, rb.o.Force, rb.o.Progress); err != nil {
		return err
	}
	if rb.o.Review != nil {
		if rb.tag != nil {
			return fmt.Errorf("--review does not apply to %s, whose GitRepository follows %s: a tag rollback releases a new tag (or pins the previous one) instead of proposing a change to a branch", env.Name, rb.w.TargetRef)
		}
		if rb.review, err = newReviewer(rb.w, rb.o.Review, review.KindRollback, rb.o.Progress); err != nil {
			return err
		}
	}
	return nil
}

// plan picks the promotions to revert and previews the revert, which also refuses a
// conflicting one before anything is written.
func (rb *rollback) plan(ctx context.Context) error {
	env := rb.w.Target
	from := rb.branch
	if rb.tag != nil {
		from = rb.tag.applied
	}
	entries, err := Entries(ctx, rb.w.Repo, from, env.Kustomization.Spec.Path, env.Ref.String(), 0)
	if err != nil {
		return err
	}
	toRevert, err := pickReverts(entries, rb.o.To, env.Name)
	if err != nil {
		return err
	}
	rb.res.Reverted = toRevert
	rb.shas = make([]string, len(toRevert))
	for i, e := range toRevert {
		rb.shas[i] = e.Commit
	}
	if rb.tag != nil {
		if err := rb.planTag(ctx, toRevert); err != nil {
			return err
		}
		if rb.o.Preview != nil {
			rb.o.Preview(rb.res)
		}
		return nil
	}
	head, err := rb.w.Repo.BranchHead(ctx, rb.branch)
	if err != nil {
		return err
	}
	rb.res.Target.Revision = rb.branch + "@sha1:" + head
	files, err := rb.w.previewRevert(ctx, head, toRevert)
	if err != nil {
		return err
	}
	rb.res.Files = files
	if rb.o.Preview != nil {
		rb.o.Preview(rb.res)
	}
	return nil
}

// write pushes the revert, retrying a lost race on the new head, and says what the
// follow waits for.
func (rb *rollback) write(ctx context.Context, author repo.Signature) (string, *via, error) {
	env, p := rb.w.Target, rb.o.Progress
	u := &undo{entries: rb.res.Reverted, branch: rb.branch, to: []string{env.Ref.String()}, by: whoAmI(ctx, env.Cluster), reason: rb.o.Reason,
		title: rollbackSubject(env.Name, rb.res.Reverted), author: author, attempts: rb.o.PushAttempts, progress: p, gates: rb.gates}
	if rb.tag != nil {
		return rb.writeTag(ctx, author, u.trailers(), u.subject())
	}
	if rb.review != nil {
		pushed, err := rb.writeForReview(ctx, u.trailers(), author)
		return pushed, nil, err
	}
	p.Doing("reverting %d promotion(s) on branch %s", len(rb.shas), rb.branch)
	res, err := pushChannel{}.Revert(ctx, rb.w, u)
	if err != nil || res.noop {
		return "", nil, rb.pushErr(err, res != nil && res.noop)
	}
	rb.res.Commit = res.commit
	rb.res.Outcome = OutcomeRolledBack
	p.Done("pushed %s to branch %s (%s)", repo.ShortSHA(res.follow), rb.branch, res.commit.Subject)
	return res.follow, nil, nil
}

func (rb *rollback) close() {
	if rb.w != nil {
		rb.w.close()
	}
}

// Entries reads the promotions and rollbacks to the environment to (a flux.Ref's
// String) on branch: the commits to the Kustomization path with trailers, and the
// fast-forward promotions recorded in notes.
func Entries(ctx context.Context, r *repo.Repo, branch, path, to string, limit int) ([]v1alpha1.HistoryEntry, error) {
	notes, err := r.Notes(ctx)
	if err != nil {
		return nil, err
	}
	commits, err := r.Log(ctx, branch, repo.LogOptions{Path: path, Keep: func(sha string) bool { _, ok := notes[sha]; return ok }})
	if err != nil {
		return nil, err
	}
	entries := history.BuildFor(commits, notes, to)
	if limit > 0 && len(entries) > limit {
		entries = entries[:limit]
	}
	return entries, nil
}

// pickReverts chooses the promotions to revert, newest first: the last live one, or
// every live one newer than the promotion named by to.
func pickReverts(entries []v1alpha1.HistoryEntry, to, env string) ([]v1alpha1.HistoryEntry, error) {
	var live []v1alpha1.HistoryEntry
	for _, e := range entries {
		if e.Kind == history.KindPromotion && e.State != history.StateRolledBack {
			live = append(live, e)
		}
	}
	if to == "" {
		if len(live) == 0 {
			return nil, fmt.Errorf("%w: no promotion to %s found in the Git history of its path (see \"kubectl promote history\")", ErrNothingToRollBack, env)
		}
		return live[:1], nil
	}
	want := flux.RevisionCommit(to)
	if len(want) < 7 {
		return nil, fmt.Errorf("--to-revision %q: give a promotion commit of at least 7 hex digits, as \"kubectl promote history\" lists them", to)
	}
	for i, e := range live {
		if strings.HasPrefix(e.Commit, want) {
			if i == 0 {
				return nil, fmt.Errorf("%w: %s is the last promotion to %s, there is nothing after it", ErrNothingToRollBack, repo.ShortSHA(e.Commit), env)
			}
			return live[:i], nil
		}
	}
	return nil, fmt.Errorf("--to-revision %s: no live promotion to %s with that commit (see \"kubectl promote history\")", to, env)
}

// previewRevert applies the reverts to a scratch checkout of head and diffs the result
// against head, which also refuses a conflicting revert before anything is written.
func (w *Workspace) previewRevert(ctx context.Context, head string, entries []v1alpha1.HistoryEntry) ([]v1alpha1.File, error) {
	r := w.Repo
	orig, err := w.checkout(ctx, head, "head")
	if err != nil {
		return nil, err
	}
	tree, err := w.checkout(ctx, head, "revert")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []v1alpha1.File
	for _, e := range entries {
		files, err := revertInto(ctx, r, e, tree)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			seen[f] = true
		}
	}
	for f := range seen {
		before, _ := os.ReadFile(filepath.Join(orig, filepath.FromSlash(f)))
		after, _ := os.ReadFile(filepath.Join(tree, filepath.FromSlash(f)))
		out = append(out, v1alpha1.File{Path: f, Diff: plan.FileChange{Path: f, Before: before, After: after}.UnifiedDiff()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func rollbackSubject(env string, reverted []v1alpha1.HistoryEntry) string {
	if len(reverted) == 1 {
		return fmt.Sprintf("rollback(%s): revert %s (%s)", env, repo.ShortSHA(reverted[0].Commit), reverted[0].Subject)
	}
	return fmt.Sprintf("rollback(%s): revert %d promotions, back to before %s", env, len(reverted), repo.ShortSHA(reverted[len(reverted)-1].Commit))
}

func shortAll(shas []string) []string {
	out := make([]string, len(shas))
	for i, s := range shas {
		out[i] = repo.ShortSHA(s)
	}
	return out
}

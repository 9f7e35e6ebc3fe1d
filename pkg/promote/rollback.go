package promote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Outcomes of a rollback.
const OutcomeRolledBack = "rolled-back"

// RollbackOptions is one rollback, as `kubectl promote rollback` describes it.
type RollbackOptions struct {
	Env flux.RefSpec
	// To is a promotion commit (a SHA, a prefix of at least 7, or a Flux revision):
	// every later promotion is reverted so the environment runs what it ran then.
	// Empty reverts the last promotion.
	To      string
	Reason  string
	RepoDir string
	Auth    repo.Auth
	Author  *repo.Signature
	DryRun  bool
	Wait    bool
	Timeout time.Duration
	Confirm func(*v1alpha1.Rollback) (bool, error)
	// Preview is called with the plan before Confirm.
	Preview      func(*v1alpha1.Rollback)
	Progress     Progress
	PushAttempts int
}

// ErrNothingToRollBack says the environment has no live promotion to revert.
var ErrNothingToRollBack = errors.New("nothing to roll back")

// RunRollback reverts the last promotion to an environment (or every promotion after
// --to), as one commit pushed to the branch it tracks, then reconciles and waits
// like a promotion.
func RunRollback(ctx context.Context, clients *flux.Clients, o RollbackOptions) (*v1alpha1.Rollback, error) {
	res := v1alpha1.NewRollback(o.Env.Raw)
	res.Outcome = OutcomeFailed
	err := runRollback(ctx, clients, o, res)
	if err != nil {
		res.Error = err.Error()
		var unhealthy *UnhealthyError
		switch {
		case errors.As(err, &unhealthy):
			res.Outcome = OutcomeUnhealthy
		case errors.Is(err, ErrDeclined):
			res.Outcome = OutcomeDeclined
		}
	}
	return res, err
}

func runRollback(ctx context.Context, clients *flux.Clients, o RollbackOptions, res *v1alpha1.Rollback) error {
	p := o.Progress
	env, err := flux.Load(ctx, clients, o.Env)
	if err != nil {
		return err
	}
	branch, err := trackedBranch(env)
	if err != nil {
		return err
	}
	res.Target = describeEnv(env, branch, "")
	p.Doing("fetching %s", repo.RedactURL(env.Source.Spec.URL))
	r, err := repo.Open(ctx, repo.Options{URL: env.Source.Spec.URL, Auth: o.Auth, RepoDir: o.RepoDir})
	if err != nil {
		return err
	}
	defer r.Close()
	entries, err := Entries(ctx, r, branch, env.Kustomization.Spec.Path, 0)
	if err != nil {
		return err
	}
	toRevert, err := pickReverts(entries, o.To, env.Name)
	if err != nil {
		return err
	}
	res.Reverted = toRevert
	shas := make([]string, len(toRevert))
	for i, e := range toRevert {
		shas[i] = e.Commit
	}
	head, err := r.BranchHead(ctx, branch)
	if err != nil {
		return err
	}
	res.Target.Revision = branch + "@sha1:" + head
	files, err := previewRevert(ctx, r, head, shas)
	if err != nil {
		return err
	}
	res.Files = files
	if o.Preview != nil {
		o.Preview(res)
	}
	if o.DryRun {
		res.Outcome = OutcomeDryRun
		p.Done("dry run: nothing was committed, pushed or annotated")
		return nil
	}
	author, err := readyToWrite(ctx, env, r, o.Author, func() (bool, error) { return confirm(o.Confirm, res) })
	if err != nil {
		return err
	}
	trailers := []repo.Trailer{}
	for _, sha := range shas {
		trailers = append(trailers, repo.Trailer{Key: history.TrailerRolledBack, Value: sha})
	}
	trailers = append(trailers, repo.Trailer{Key: history.TrailerTo, Value: env.Ref.String()}, repo.Trailer{Key: history.TrailerBy, Value: whoAmI(ctx, env.Cluster)})
	if o.Reason != "" {
		trailers = append(trailers, repo.Trailer{Key: history.TrailerReason, Value: o.Reason})
	}
	p.Doing("reverting %d promotion(s) on branch %s", len(shas), branch)
	pushed, spec, err := revert(ctx, r, branch, shas, rollbackSubject(env.Name, toRevert), trailers, author, o.PushAttempts)
	if err != nil {
		return err
	}
	if pushed.NoOp {
		return fmt.Errorf("%w: %s already rolled back on branch %s (another rollback landed first; see \"kubectl promote history\")", ErrNothingToRollBack, strings.Join(shortAll(shas), ", "), branch)
	}
	res.Commit = commitOf(pushed, spec, branch)
	res.Outcome = OutcomeRolledBack
	p.Done("pushed %s to branch %s (%s)", repo.ShortSHA(pushed.Commit), branch, spec.Message)
	rctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	out, err := reconcile.Run(rctx, env, pushed.Commit, reconcile.Options{Wait: o.Wait, Progress: p})
	res.Reconcile = out
	if err != nil {
		var failed *reconcile.FailedError
		var timeout *reconcile.TimeoutError
		if o.Wait && (errors.As(err, &failed) || errors.As(err, &timeout)) {
			return &UnhealthyError{Commit: pushed.Commit, Err: err}
		}
		return fmt.Errorf("pushed %s but could not ask Flux to reconcile: %w; run \"flux reconcile kustomization %s -n %s --with-source\"",
			repo.ShortSHA(pushed.Commit), err, env.Ref.Name, env.Ref.Namespace)
	}
	return nil
}

// Entries reads the promotions and rollbacks to the Kustomization path on branch.
func Entries(ctx context.Context, r *repo.Repo, branch, path string, limit int) ([]v1alpha1.HistoryEntry, error) {
	commits, err := r.Log(ctx, branch, repo.LogOptions{Path: path})
	if err != nil {
		return nil, err
	}
	entries := history.Build(commits)
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
		return nil, fmt.Errorf("--to %q: give a promotion commit of at least 7 hex digits, as \"kubectl promote history\" lists them", to)
	}
	for i, e := range live {
		if strings.HasPrefix(e.Commit, want) {
			if i == 0 {
				return nil, fmt.Errorf("%w: %s is the last promotion to %s, there is nothing after it", ErrNothingToRollBack, repo.ShortSHA(e.Commit), env)
			}
			return live[:i], nil
		}
	}
	return nil, fmt.Errorf("--to %s: no live promotion to %s with that commit (see \"kubectl promote history\")", to, env)
}

// previewRevert applies the reverts to a scratch checkout of head and diffs the result
// against head, which also refuses a conflicting revert before anything is written.
func previewRevert(ctx context.Context, r *repo.Repo, head string, shas []string) ([]v1alpha1.File, error) {
	dir, err := os.MkdirTemp("", "kubectl-promote-rollback-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	orig, tree := filepath.Join(dir, "head"), filepath.Join(dir, "tree")
	for _, d := range []string{orig, tree} {
		if err := r.Checkout(ctx, head, d); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	var out []v1alpha1.File
	for _, sha := range shas {
		files, err := r.RevertInto(ctx, sha, tree)
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

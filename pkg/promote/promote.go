// Package promote ties kubectl-promote together: it reads the source and target
// environments, plans the image changes, checks the gates, commits and pushes the
// change with provenance, asks Flux to reconcile now and follows the target. It
// returns one Result value that the command prints as text or JSON.
package promote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/gates"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Progress receives human progress lines; the command prints them on stderr.
type Progress interface {
	reconcile.Progress
	Failed(format string, args ...any)
}

// Options is one promotion, as the command's flags describe it.
type Options struct {
	From, To flux.RefSpec
	Filter   plan.Filter
	// RepoDir is a local checkout to use instead of a temporary clone.
	RepoDir string
	Auth    repo.Auth
	// Author of the commit; nil means the user's git config.
	Author  *repo.Signature
	MinSoak time.Duration
	Force   bool
	DryRun  bool
	Wait    bool
	// Timeout bounds the reconcile and the wait.
	Timeout time.Duration
	// RollbackOnFailure reverts the promotion when the target fails health.
	RollbackOnFailure bool
	// Confirm is asked before anything is written, with the plan and gates in the
	// result; nil means yes.
	Confirm func(*Result) (bool, error)
	// Preview is called once the plan and gates are known, before Confirm.
	Preview      func(*Result)
	Progress     Progress
	PushAttempts int
}

// BlockedError is a promotion stopped by failed gates (exit code 3).
type BlockedError struct{ Failed []string }

func (e *BlockedError) Error() string {
	return fmt.Sprintf("blocked by gates: %s; nothing was pushed (fix them, or use --force to promote anyway; the commit records it)", strings.Join(e.Failed, ", "))
}

// UnhealthyError is a promotion that was pushed but the target did not become
// healthy (exit code 4).
type UnhealthyError struct {
	Commit string
	Err    error
}

func (e *UnhealthyError) Error() string {
	return fmt.Sprintf("promotion %s was pushed but the target did not become healthy: %v", repo.ShortSHA(e.Commit), e.Err)
}

func (e *UnhealthyError) Unwrap() error { return e.Err }

// DeclinedError is a promotion the user said no to at the prompt.
var ErrDeclined = errors.New("promotion declined; nothing was pushed")

// Run performs one promotion. It always returns a Result describing how far it got,
// with an error when it did not end promoted, nothing-to-promote or dry-run.
func Run(ctx context.Context, clients *flux.Clients, o Options) (*Result, error) {
	res := &Result{APIVersion: "kubectl-promote.dev/v1alpha1", Kind: "Promotion", Outcome: OutcomeFailed}
	err := run(ctx, clients, o, res)
	if err != nil {
		res.Error = err.Error()
		var blocked *BlockedError
		var unhealthy *UnhealthyError
		switch {
		case errors.As(err, &blocked):
			res.Outcome = OutcomeBlocked
		case errors.As(err, &unhealthy):
			res.Outcome = OutcomeUnhealthy
		case errors.Is(err, ErrDeclined):
			res.Outcome = OutcomeDeclined
		default:
			res.Outcome = OutcomeFailed
		}
	}
	return res, err
}

func run(ctx context.Context, clients *flux.Clients, o Options, res *Result) error {
	p := o.Progress
	src, dst, err := loadBoth(ctx, clients, o.From, o.To)
	if err != nil {
		return err
	}
	srcBranch, err := trackedBranch(src)
	if err != nil {
		return err
	}
	dstBranch, err := trackedBranch(dst)
	if err != nil {
		return err
	}
	res.Source = describeEnv(src, srcBranch, src.Kustomization.Status.LastAppliedRevision)
	res.Target = describeEnv(dst, dstBranch, "")
	if !sameRepository(src.Source.Spec.URL, dst.Source.Spec.URL) {
		return fmt.Errorf("the source reads %s and the target %s: promoting between repositories is not supported yet",
			repo.RedactURL(src.Source.Spec.URL), repo.RedactURL(dst.Source.Spec.URL))
	}
	if srcBranch != dstBranch {
		return fmt.Errorf("the source tracks branch %q and the target branch %q: a branch per environment is not supported yet", srcBranch, dstBranch)
	}
	if src.Ref == dst.Ref {
		return fmt.Errorf("--from and --to name the same Kustomization %s", src.Ref)
	}
	p.Done("source %s: Kustomization %s/%s applied %s", src.Name, src.Ref.Namespace, src.Ref.Name, orNone(src.Kustomization.Status.LastAppliedRevision))
	p.Done("target %s: Kustomization %s/%s tracks %s branch %s path %s", dst.Name, dst.Ref.Namespace, dst.Ref.Name, repo.RedactURL(dst.Source.Spec.URL), dstBranch, dst.Kustomization.Spec.Path)

	// Gates are read before the plan so a blocked promotion still shows its plan.
	var set gates.Set
	var wg sync.WaitGroup
	var srcGates, dstGates gates.Set
	wg.Add(2)
	go func() { defer wg.Done(); srcGates = gates.Source(ctx, src, gates.SourceOptions{MinSoak: o.MinSoak}) }()
	go func() { defer wg.Done(); dstGates = gates.Target(ctx, dst) }()
	wg.Wait()
	set = append(append(set, srcGates...), dstGates...)
	res.Gates = set

	appliedRev := src.Kustomization.Status.LastAppliedRevision
	if appliedRev == "" {
		// Nothing to render or promote; the gates say why.
		if o.Preview != nil {
			o.Preview(res)
		}
		return &BlockedError{Failed: set.Failed()}
	}
	srcSHA, err := flux.CommitSHA(appliedRev)
	if err != nil {
		return fmt.Errorf("source %s: lastAppliedRevision %q: %w", src.Name, appliedRev, err)
	}

	p.Doing("fetching %s", repo.RedactURL(dst.Source.Spec.URL))
	r, err := repo.Open(ctx, repo.Options{URL: dst.Source.Spec.URL, Auth: o.Auth, RepoDir: o.RepoDir})
	if err != nil {
		return err
	}
	defer r.Close()
	work, err := os.MkdirTemp("", "kubectl-promote-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	srcDir := filepath.Join(work, "source")
	if err := r.Checkout(ctx, srcSHA, srcDir); err != nil {
		return fmt.Errorf("checking out the source's applied revision %s: %w", appliedRev, err)
	}
	head, err := r.BranchHead(ctx, dstBranch)
	if err != nil {
		return err
	}
	res.Target.Revision = dstBranch + "@sha1:" + head
	dstDir := filepath.Join(work, "target")
	if err := r.Checkout(ctx, head, dstDir); err != nil {
		return err
	}
	in := plan.Input{SourceDir: srcDir, TargetDir: dstDir, Source: src.Kustomization, Target: dst.Kustomization,
		SourceClient: src.Cluster.Client, TargetClient: dst.Cluster.Client, Filter: o.Filter}
	pl, err := plan.Compute(ctx, in)
	if err != nil {
		return err
	}
	fillPlan(res, pl)
	if o.Preview != nil {
		o.Preview(res)
	}
	if len(pl.Changes) == 0 {
		res.Outcome = OutcomeNothingToDo
		p.Done("nothing to promote: %s already runs what %s runs", dst.Name, src.Name)
		return nil
	}
	if !set.Passed() {
		if !o.Force {
			return &BlockedError{Failed: set.Failed()}
		}
		res.Forced = true
		p.Failed("gates failed (%s): promoting anyway because of --force", strings.Join(set.Failed(), ", "))
	}
	if o.DryRun {
		res.Outcome = OutcomeDryRun
		p.Done("dry run: nothing was committed, pushed or annotated")
		return nil
	}
	author, err := readyToWrite(ctx, dst, r, o.Author, func() (bool, error) { return confirm(o.Confirm, res) })
	if err != nil {
		return err
	}
	by := whoAmI(ctx, dst.Cluster)
	gatesTrailer := "passed"
	if res.Forced {
		gatesTrailer = "forced (failed: " + strings.Join(set.Failed(), ", ") + ")"
	}

	p.Doing("committing to branch %s", dstBranch)
	var final *plan.Plan
	var spec *repo.CommitSpec
	pushed, err := r.CommitAndPush(ctx, dstBranch, func(ctx context.Context, head, dir string) (*repo.CommitSpec, error) {
		in := in
		in.TargetDir = dir
		pl, err := plan.Compute(ctx, in)
		if err != nil {
			return nil, err
		}
		final = pl
		if len(pl.Changes) == 0 {
			return nil, nil
		}
		trailers := []repo.Trailer{
			{Key: history.TrailerFrom, Value: src.Ref.String()},
			{Key: history.TrailerFromRevision, Value: appliedRev},
			{Key: history.TrailerTo, Value: dst.Ref.String()},
		}
		for _, c := range pl.Changes {
			trailers = append(trailers, repo.Trailer{Key: history.TrailerImage, Value: history.FormatImage(c.To.String(), c.From.Version())})
		}
		trailers = append(trailers, repo.Trailer{Key: history.TrailerBy, Value: by}, repo.Trailer{Key: history.TrailerGates, Value: gatesTrailer})
		spec = &repo.CommitSpec{Message: Subject(dst.Name, src.Name, pl.Changes), Trailers: trailers, Author: author}
		return spec, nil
	}, repo.PushOptions{MaxAttempts: o.PushAttempts})
	if err != nil {
		return err
	}
	if final != nil {
		fillPlan(res, final)
	}
	if pushed.NoOp {
		res.Outcome = OutcomeNothingToDo
		p.Done("nothing to promote: branch %s already has these versions", dstBranch)
		return nil
	}
	res.Commit = commitOf(pushed, spec, dstBranch)
	p.Done("pushed %s to branch %s (%s)", repo.ShortSHA(pushed.Commit), dstBranch, res.Commit.Subject)
	res.Outcome = OutcomePromoted

	if err := reconcileAndWait(ctx, dst, pushed.Commit, o, res); err != nil {
		var failed *reconcile.FailedError
		var timeout *reconcile.TimeoutError
		if o.Wait && (errors.As(err, &failed) || errors.As(err, &timeout)) {
			uerr := &UnhealthyError{Commit: pushed.Commit, Err: err}
			p.Failed("%v", uerr)
			if o.RollbackOnFailure {
				res.Rollback = rollbackFailed(ctx, r, dst, dstBranch, pushed.Commit, author, by, o)
			}
			return uerr
		}
		return fmt.Errorf("pushed %s but could not ask Flux to reconcile: %w; run \"flux reconcile kustomization %s -n %s --with-source\"",
			repo.ShortSHA(pushed.Commit), err, dst.Ref.Name, dst.Ref.Namespace)
	}
	return nil
}

func reconcileAndWait(ctx context.Context, dst *flux.Environment, commit string, o Options, res *Result) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	out, err := reconcile.Run(ctx, dst, commit, reconcile.Options{Wait: o.Wait, Progress: o.Progress})
	res.Reconcile = out
	return err
}

func loadBoth(ctx context.Context, clients *flux.Clients, from, to flux.RefSpec) (*flux.Environment, *flux.Environment, error) {
	var src, dst *flux.Environment
	var srcErr, dstErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); src, srcErr = flux.Load(ctx, clients, from) }()
	go func() { defer wg.Done(); dst, dstErr = flux.Load(ctx, clients, to) }()
	wg.Wait()
	if srcErr != nil {
		return nil, nil, fmt.Errorf("source %s: %w", from.Raw, srcErr)
	}
	if dstErr != nil {
		return nil, nil, fmt.Errorf("target %s: %w", to.Raw, dstErr)
	}
	return src, dst, nil
}

// trackedBranch is the branch an environment's GitRepository follows; tags, semver
// ranges and pinned commits are refused for now.
func trackedBranch(env *flux.Environment) (string, error) {
	ref := env.Source.Spec.Reference
	if ref == nil {
		return "master", nil // source-controller's default
	}
	switch {
	case ref.Name != "" || ref.Tag != "" || ref.SemVer != "" || ref.Commit != "":
		what := map[bool]string{ref.Tag != "": "tag " + ref.Tag, ref.SemVer != "": "semver range " + ref.SemVer, ref.Commit != "": "commit " + ref.Commit, ref.Name != "": "ref " + ref.Name}[true]
		return "", fmt.Errorf("GitRepository %s/%s of %s tracks %s: only branches are supported yet", env.Source.Namespace, env.Source.Name, env.Name, what)
	case ref.Branch == "":
		return "master", nil
	}
	return ref.Branch, nil
}

func describeEnv(env *flux.Environment, branch, revision string) Environment {
	return Environment{
		Name: env.Name, Context: env.Ref.Context, Namespace: env.Ref.Namespace, Kustomization: env.Ref.Name,
		GitRepository: env.Source.Namespace + "/" + env.Source.Name, URL: repo.RedactURL(env.Source.Spec.URL),
		Branch: branch, Path: env.Kustomization.Spec.Path, Revision: revision,
	}
}

func fillPlan(res *Result, pl *plan.Plan) {
	res.Changes = []Change{}
	for _, c := range pl.Changes {
		res.Changes = append(res.Changes, Change{Image: c.Repository, From: c.From.Version(), To: c.To.Version(),
			FromRef: c.From.String(), ToRef: c.To.String(), Apps: c.Apps, Workloads: c.Workloads})
	}
	res.Files = []File{}
	for _, f := range pl.Files {
		res.Files = append(res.Files, File{Path: f.Path, Diff: f.UnifiedDiff()})
	}
	res.RenderedDiff = pl.RenderedDiff
}

func commitOf(p *repo.PushResult, spec *repo.CommitSpec, branch string) *Commit {
	c := &Commit{SHA: p.Commit, Parent: p.Parent, Branch: branch, Attempts: p.Attempts, Revision: branch + "@sha1:" + p.Commit}
	if spec != nil {
		c.Subject = spec.Message
		for _, t := range spec.Trailers {
			c.Trailers = append(c.Trailers, Trailer{Key: t.Key, Value: t.Value})
		}
	}
	return c
}

// Subject is the commit subject: promote(<target>): <app> <old> → <new> from <source>.
func Subject(target, source string, changes []plan.Change) string {
	var parts []string
	for _, c := range changes {
		parts = append(parts, fmt.Sprintf("%s %s → %s", changeName(c), c.From.Version(), c.To.Version()))
	}
	what := strings.Join(parts, ", ")
	if len(changes) > 3 {
		what = fmt.Sprintf("%d images", len(changes))
	}
	return fmt.Sprintf("promote(%s): %s from %s", target, what, source)
}

// changeName is how a subject names a change: its app when it has exactly one,
// else the repository's last path element.
func changeName(c plan.Change) string {
	if len(c.Apps) == 1 {
		return c.Apps[0]
	}
	return c.Repository[strings.LastIndex(c.Repository, "/")+1:]
}

func sameRepository(a, b string) bool {
	norm := func(u string) string {
		u = strings.TrimSpace(repo.RedactURL(u))
		u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
		return strings.ToLower(u)
	}
	return norm(a) == norm(b)
}

// readyToWrite is what every push is preceded by: the permission to announce it to
// Flux (so a commit is never pushed unannounced), the user's yes, and the author.
func readyToWrite(ctx context.Context, env *flux.Environment, r *repo.Repo, author *repo.Signature, confirm func() (bool, error)) (repo.Signature, error) {
	if err := checkPermissions(ctx, env); err != nil {
		return repo.Signature{}, err
	}
	ok, err := confirm()
	if err != nil {
		return repo.Signature{}, err
	}
	if !ok {
		return repo.Signature{}, ErrDeclined
	}
	return authorOf(author, r)
}

// confirm asks ask about res; no question means yes.
func confirm[T any](ask func(T) (bool, error), res T) (bool, error) {
	if ask == nil {
		return true, nil
	}
	return ask(res)
}

// authorOf is --author, else the user's git identity (the checkout's own config first with --repo-dir).
func authorOf(a *repo.Signature, r *repo.Repo) (repo.Signature, error) {
	if a != nil {
		return *a, nil
	}
	return r.Author()
}

func orNone(s string) string {
	if s == "" {
		return "nothing yet"
	}
	return s
}

package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// followOptions says how far followUp goes.
type followOptions struct {
	wait     bool
	progress Progress
	// carries, when set, says whether a descendant commit still carries the change.
	carries func(ctx context.Context, sha string) (bool, error)
	// via, when set, is the Kustomization that must apply the manifest commit that
	// pins the target's GitRepository to the new tag: announced and followed first.
	via *via
	// token, when set, is the reconcile request to announce with; sourceDone says
	// the target's GitRepository already has it (see reconcile.AnnounceAt).
	token      string
	sourceDone bool
	// verifiers run once the target is Ready (with wait); an error is failed health.
	verifiers []Verifier
}

// via is the manifest step of a pinned-tag promotion.
type via struct {
	env    *flux.Environment
	commit string
}

// followUp is what every push ends with (promotion, rollback, automatic rollback):
// announce the commit to Flux, then with wait follow the target until it has
// applied a revision containing the commit and is Ready. It maps what happened to
// the errors the exit codes are made of:
//
//   - the announcement failed: *UnannouncedError (the commit is pushed; the error
//     says which `flux reconcile` command finishes the job);
//   - Flux reported failure, or the wait ran out of time: *UnhealthyError;
//   - the wait was interrupted (Ctrl-C, SIGTERM): *InterruptedError.
func followUp(ctx context.Context, w *Workspace, commit string, o followOptions) (*v1alpha1.ReconcileOutcome, error) {
	start := time.Now()
	env := w.Target
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reconcile.AnnounceTimeout)
	defer cancel()
	var step *reconcile.Via
	if v := o.via; v != nil {
		vout, err := reconcile.AnnounceRetrying(actx, v.env, "", false)
		if err != nil {
			return vout, &UnannouncedError{Commit: v.commit, Env: v.env, Err: err}
		}
		step = &reconcile.Via{Env: v.env, Commit: v.commit, Out: vout, Contains: func(ctx context.Context, revision string) (bool, error) {
			return w.contains(ctx, v.commit, revision, nil)
		}}
	}
	out, err := reconcile.AnnounceRetrying(actx, env, o.token, o.sourceDone)
	if step != nil {
		out.Annotated = append(step.Out.Annotated, out.Annotated...)
	}
	if err != nil {
		return out, &UnannouncedError{Commit: commit, Env: env, Err: err}
	}
	o.progress.Done("asked Flux to reconcile: %s", strings.Join(out.Annotated, ", "))
	err = reconcile.Follow(ctx, env, commit, out, reconcile.Options{Wait: o.wait, Progress: o.progress, Via: step,
		Contains: func(ctx context.Context, revision string) (bool, error) {
			if step != nil {
				// A pinned tag names one commit: an older tag's commit may well be an
				// ancestor (a rollback) or a descendant of it, and neither is it.
				return flux.SameRevision(revision, commit), nil
			}
			return w.contains(ctx, commit, revision, o.carries)
		}})
	if err == nil && o.wait {
		err = verify(ctx, env, out.AppliedRevision, o.verifiers)
	}
	out.Seconds = time.Since(start).Seconds()
	if err == nil {
		return out, nil
	}
	var failed *reconcile.FailedError
	var timeout *reconcile.TimeoutError
	var superseded *reconcile.SupersededError
	switch {
	case errors.As(err, &superseded):
		return out, &SupersededError{Commit: commit, Err: superseded}
	case errors.As(err, &failed) || errors.As(err, &timeout):
		return out, &UnhealthyError{Commit: commit, Err: err}
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return out, &InterruptedError{Commit: commit, Env: env}
	case errors.Is(err, context.DeadlineExceeded):
		return out, &UnhealthyError{Commit: commit, Err: &reconcile.TimeoutError{What: "Flux to apply " + repo.ShortSHA(commit)}}
	}
	return out, &UnhealthyError{Commit: commit, Err: err}
}

// verify runs the verifiers on the revision the target is Ready on; the first
// error is failed health.
func verify(ctx context.Context, env *flux.Environment, revision string, verifiers []Verifier) error {
	for _, v := range verifiers {
		if err := v.Verify(ctx, env, revision); err != nil {
			return &reconcile.FailedError{Object: "the verification of " + revision, Reason: "VerificationFailed", Message: err.Error()}
		}
	}
	return nil
}

// contains says whether a revision Flux reports contains commit: it is the commit,
// or a descendant on the branch that, when the strategy can tell, still carries the
// change (another promotion landed on top of ours, and Flux applied both).
func (w *Workspace) contains(ctx context.Context, commit, revision string, carries func(context.Context, string) (bool, error)) (bool, error) {
	if flux.SameRevision(revision, commit) {
		return true, nil // an OCI digest, or the commit itself
	}
	sha, err := flux.CommitSHA(revision)
	if err != nil {
		return false, nil
	}
	if sha == commit {
		return true, nil
	}
	ok, err := w.Repo.IsAncestor(ctx, commit, sha)
	if err != nil || !ok || carries == nil {
		return ok, err
	}
	return carries(ctx, sha)
}

// shortRef is a commit as repo.ShortSHA shortens it, or an OCI digest
// ("sha256:…", what an OCI target follows) as its algorithm and 12 hex digits.
func shortRef(commit string) string {
	if alg, hex, ok := strings.Cut(commit, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return repo.ShortSHA(commit)
}

// BlockedError is a promotion stopped by failed gates (exit code 3).
type BlockedError struct{ Failed []string }

func (e *BlockedError) Error() string {
	if len(e.Failed) == 0 {
		return "blocked: the source has applied nothing yet; nothing was pushed"
	}
	return fmt.Sprintf("blocked by gates: %s; nothing was pushed (fix them, or use --force to promote anyway; the commit records it)", strings.Join(e.Failed, ", "))
}

// UnhealthyError is a change that was pushed and announced, but the target did not
// become healthy on it (exit code 4).
type UnhealthyError struct {
	Commit string
	Err    error
}

func (e *UnhealthyError) Error() string {
	return fmt.Sprintf("%s was pushed but the target did not become healthy: %v", shortRef(e.Commit), e.Err)
}

func (e *UnhealthyError) Unwrap() error { return e.Err }

// UnannouncedError is a change that was pushed but Flux could not be asked to
// reconcile it (exit code 6). Flux still applies it at its next interval; the error
// names the command that applies it now. A re-run of the same promotion finishes
// the announcement too.
type UnannouncedError struct {
	Commit string
	Env    *flux.Environment
	Err    error
}

func (e *UnannouncedError) Error() string {
	return fmt.Sprintf("%s is pushed but Flux was not asked to reconcile it: %v; run %q, or run this promotion again", repo.ShortSHA(e.Commit), e.Err, ReconcileCommand(e.Env))
}

func (e *UnannouncedError) Unwrap() error { return e.Err }

// SupersededError is a pushed and announced change whose health check a newer
// revision without it cancelled (exit code 9): neither healthy nor failed, and never
// rolled back; what runs is the newer revision.
type SupersededError struct {
	Commit string
	Err    *reconcile.SupersededError
}

func (e *SupersededError) Error() string {
	return fmt.Sprintf("%s was pushed but %v", shortRef(e.Commit), e.Err)
}

func (e *SupersededError) Unwrap() error { return e.Err }

// InterruptedError is a wait cut short by a signal after the change was pushed and
// announced (exit code 7): Flux goes on applying it.
type InterruptedError struct {
	Commit string
	Env    *flux.Environment
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted while waiting: %s is pushed and Flux was asked to reconcile it; follow it with \"flux get kustomizations %s -n %s --context %s\"",
		repo.ShortSHA(e.Commit), e.Env.Ref.Name, e.Env.Ref.Namespace, e.Env.Ref.Context)
}

// ReconcileCommand is the Flux CLI command that does what the announcement does.
func ReconcileCommand(env *flux.Environment) string {
	return fmt.Sprintf("flux reconcile kustomization %s -n %s --with-source --context %s", env.Ref.Name, env.Ref.Namespace, env.Ref.Context)
}

// ErrDeclined is a promotion the user said no to at the prompt.
var ErrDeclined = errors.New("declined at the prompt; nothing was pushed")

// outcomeOf maps a Run's error to the result's outcome.
func outcomeOf(err error) string {
	var blocked *BlockedError
	var unhealthy *UnhealthyError
	var unannounced *UnannouncedError
	var interrupted *InterruptedError
	var closed *review.ClosedError
	var pending *review.PendingError
	switch {
	case errors.As(err, &closed):
		return OutcomeReviewClosed
	case errors.As(err, &pending):
		return OutcomeReviewOpen
	case errors.As(err, &blocked):
		return OutcomeBlocked
	case errors.As(err, &unannounced):
		return OutcomeUnannounced
	case errors.As(err, &interrupted):
		return OutcomeInterrupted
	case errors.As(err, &unhealthy):
		return OutcomeUnhealthy
	case errors.As(err, new(*SupersededError)):
		return OutcomeSuperseded
	case errors.Is(err, ErrDeclined):
		return OutcomeDeclined
	}
	return OutcomeFailed
}

// Exit codes, as the README documents them.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitBlocked     = 3
	ExitUnhealthy   = 4
	ExitUnannounced = 6
	ExitInterrupted = 7
	// ExitReviewClosed: --review --wait, the pull request was closed without merging.
	ExitReviewClosed = 8
	// ExitSuperseded: pushed and announced, but a newer revision that does not
	// contain it cancelled its health check (outcome superseded): not a failure,
	// never rolled back.
	ExitSuperseded = 9
)

// exitCodes are the exit codes of the outcomes that have their own.
var exitCodes = map[string]int{OutcomeBlocked: ExitBlocked, OutcomeUnhealthy: ExitUnhealthy, OutcomeUnannounced: ExitUnannounced,
	OutcomeInterrupted: ExitInterrupted, OutcomeReviewClosed: ExitReviewClosed, OutcomeSuperseded: ExitSuperseded}

// ExitCode maps a promotion's or rollback's error to the process exit code.
func ExitCode(err error) int {
	if code, ok := exitCodes[outcomeOf(err)]; ok {
		return code
	}
	if err == nil {
		return ExitOK
	}
	var failed *reconcile.FailedError
	if errors.As(err, &failed) {
		return ExitUnhealthy
	}
	return ExitError
}

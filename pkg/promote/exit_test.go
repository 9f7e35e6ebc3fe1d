package promote

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// Every error a promotion or a rollback ends with maps to the outcome the JSON
// reports and the exit code the README documents, also when wrapped.
func TestErrorsMapToOutcomesAndExitCodes(t *testing.T) {
	env := &flux.Environment{Ref: flux.Ref{Context: "production", Namespace: "flux-system", Name: "apps"}}
	failed := &reconcile.FailedError{Object: "Kustomization/flux-system/apps", Reason: "HealthCheckFailed", Message: "my-app"}
	for _, tc := range []struct {
		name    string
		err     error
		outcome string
		code    int
	}{
		{"success", nil, "", ExitOK},
		{"any error", errors.New("boom"), OutcomeFailed, ExitError},
		{"forbidden", &flux.ForbiddenError{Verb: "patch"}, OutcomeFailed, ExitError},
		{"declined", ErrDeclined, OutcomeDeclined, ExitError},
		{"superseded", fmt.Errorf("x: %w", &SupersededError{Commit: "abc", Err: &reconcile.SupersededError{By: "main@sha1:def"}}), OutcomeSuperseded, ExitSuperseded},
		{"blocked", &BlockedError{Failed: []string{"source-ready"}}, OutcomeBlocked, ExitBlocked},
		{"unhealthy", &UnhealthyError{Commit: "abc", Err: failed}, OutcomeUnhealthy, ExitUnhealthy},
		{"Flux failure outside a promotion", failed, OutcomeFailed, ExitUnhealthy},
		{"unannounced", &UnannouncedError{Commit: "abc", Env: env, Err: errors.New("forbidden")}, OutcomeUnannounced, ExitUnannounced},
		{"interrupted", &InterruptedError{Commit: "abc", Env: env}, OutcomeInterrupted, ExitInterrupted},
		{"review closed", &review.ClosedError{PR: &review.PullRequest{Number: 4}}, OutcomeReviewClosed, ExitReviewClosed},
		{"review still open at the timeout", &review.PendingError{PR: &review.PullRequest{Number: 4}, Err: context.DeadlineExceeded}, OutcomeReviewOpen, ExitError},
		{"wrapped blocked", fmt.Errorf("promoting: %w", &BlockedError{}), OutcomeBlocked, ExitBlocked},
		{"wrapped unannounced", fmt.Errorf("x: %w", &UnannouncedError{Commit: "abc", Env: env, Err: errors.New("y")}), OutcomeUnannounced, ExitUnannounced},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.code, ExitCode(tc.err))
			if tc.err != nil {
				require.Equal(t, tc.outcome, outcomeOf(tc.err))
			}
		})
	}
	require.Equal(t, "blocked: the source has applied nothing yet; nothing was pushed", (&BlockedError{}).Error())
	require.Equal(t, "flux reconcile kustomization apps -n flux-system --with-source --context production", ReconcileCommand(env))
}

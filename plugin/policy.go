package plugin

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
	"github.com/kubectl-promote/kubectl-promote/pkg/verify"
)

// verifyFlags are the checks run after the target is Ready (--verify,
// --verify-command), besides those of the target's policy.
type verifyFlags struct {
	Verify         []string
	VerifyStatus   int
	VerifyExpr     string
	VerifyFor      time.Duration
	VerifyCommands []string

	checks   verify.Checks
	verifier *verify.Verifier
	statuses *promote.StatusObserver
}

func (v *verifyFlags) addVerifyFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&v.Verify, "verify", nil, "With --wait, once the target is Ready, GET this URL until it answers --verify-status (and --verify-expr holds) or --verify-for runs out; a failure counts as failed health (exit 4); repeatable")
	f.IntVar(&v.VerifyStatus, "verify-status", 200, "The HTTP status --verify expects")
	f.StringVar(&v.VerifyExpr, "verify-expr", "", "A CEL expression over the JSON body (body) that --verify requires to be true, e.g. \"body.status == 'ok'\"")
	f.DurationVar(&v.VerifyFor, "verify-for", verify.DefaultFor, "How long --verify retries until it passes")
	f.StringArrayVar(&v.VerifyCommands, "verify-command", nil, "With --wait, once the target is Ready, run this command (sh -c) with KUBECTL_PROMOTE_TARGET, _REVISION, _COMMIT, _IMAGES, ... in its environment; a non-zero exit counts as failed health (exit 4); repeatable")
}

// validateVerify compiles the checks, refusing a bad one before anything is written.
func (v *verifyFlags) validateVerify(wait bool) error {
	if (len(v.Verify) > 0 || len(v.VerifyCommands) > 0) && !wait {
		return fmt.Errorf("--verify and --verify-command run once the target is Ready: add --wait")
	}
	if (v.VerifyExpr != "" || v.VerifyStatus != 200) && len(v.Verify) == 0 {
		return fmt.Errorf("--verify-status and --verify-expr apply to --verify URL: add --verify")
	}
	if v.VerifyFor <= 0 {
		return fmt.Errorf("--verify-for must be positive")
	}
	v.checks = verify.Checks{}
	for _, u := range v.Verify {
		h := &verify.HTTP{URL: u, Status: v.VerifyStatus, Expr: v.VerifyExpr, For: v.VerifyFor, From: verify.FromFlag}
		if err := h.Validate(); err != nil {
			return fmt.Errorf("--verify: %w", err)
		}
		v.checks.HTTP = append(v.checks.HTTP, h)
	}
	for _, c := range v.VerifyCommands {
		v.checks.Commands = append(v.checks.Commands, verify.Command{Command: c, From: verify.FromFlag})
	}
	return nil
}

// extend adds the policy gate, the checks and, with a Git host token, the commit
// statuses to a promotion's options.
func (v *verifyFlags) extend(o *promote.Options, provider string, pr *printer) {
	v.verifier = &verify.Verifier{Checks: v.checks, Options: verify.Options{Progress: pr}}
	v.statuses = &promote.StatusObserver{Wait: o.Wait, Statuses: review.Statuses{Warn: pr.Warning, Host: func(repoURL string) (review.CommitStatuses, error) {
		return statusHost(repoURL, provider)
	}}}
	o.Gates = append(o.Gates, promote.PolicyGate{})
	o.Verifiers = append(o.Verifiers, v.verifier)
	if !o.DryRun {
		o.Observers = append(o.Observers, v.statuses)
	}
}

// record puts the checks' results and the commit status into the document.
func (v *verifyFlags) record(r *v1alpha1.Promotion) {
	if r == nil || v.verifier == nil {
		return
	}
	r.Verification = v.verifier.Results(r.Target.Name)
	r.CommitStatus = v.statuses.Status(r.Target.Name)
}

// statusHost is the commit statuses of the repository, when its host is known (by
// its name, or --git-provider) and a token for it is set; nil otherwise: no statuses.
// A host the URL does not name is no reason to warn: KUBECTL_PROMOTE_GIT_TOKEN is
// also the token of plain Git servers over HTTPS, which have no status API.
func statusHost(repoURL, provider string) (review.CommitStatuses, error) {
	if provider == "" {
		r, err := review.ParseURL(repoURL)
		if err != nil {
			return nil, nil
		}
		if provider, err = review.Detect(r.Host); err != nil {
			return nil, nil
		}
	}
	if tok, _ := review.TokenFromEnv(provider); tok == "" {
		return nil, nil
	}
	return review.NewStatuses(review.Options{RepoURL: repoURL, Provider: provider})
}

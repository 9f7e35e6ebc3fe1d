package plugin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// reviewFlags are --review and --git-provider, shared by promote and rollback.
type reviewFlags struct {
	Review      bool
	GitProvider string
}

func (r *reviewFlags) addReviewFlags(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.BoolVar(&r.Review, "review", false, "Open a pull request (merge request on GitLab) with the "+what+" instead of pushing to the tracked branch; the token comes from KUBECTL_PROMOTE_GIT_TOKEN or GITHUB_TOKEN/GITLAB_TOKEN/GITEA_TOKEN. With --wait, wait for it to be merged")
	f.StringVar(&r.GitProvider, "git-provider", "", "The Git host's kind when its name does not tell, for --review and commit statuses: "+strings.Join(review.Providers, ", "))
	_ = cmd.RegisterFlagCompletionFunc("git-provider", cobra.FixedCompletions(review.Providers, cobra.ShellCompDirectiveNoFileComp))
}

func (r *reviewFlags) validateReview() error {
	if r.GitProvider != "" && !slices.Contains(review.Providers, r.GitProvider) {
		return fmt.Errorf("--git-provider %q: use %s", r.GitProvider, strings.Join(review.Providers, ", "))
	}
	return nil
}

// reviewOptions is review mode's options, nil without --review.
func (r *reviewFlags) reviewOptions() *promote.ReviewOptions {
	if !r.Review {
		return nil
	}
	return &promote.ReviewOptions{Provider: r.GitProvider}
}

// pullRequestLine is the summary line of a review delivery's pull request.
func pullRequestLine(pr *v1alpha1.PullRequest) string {
	if pr == nil {
		return ""
	}
	s := fmt.Sprintf("pullrequest/%d %s (%s, branch %s)", pr.Number, pr.State, pr.URL, pr.Branch)
	if pr.MergeCommit != "" {
		s += " merged as " + pr.MergeCommit
	}
	return s + "\n"
}

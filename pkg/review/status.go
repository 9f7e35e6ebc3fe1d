package review

import (
	"context"
	"fmt"
	"strings"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v93/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// Commit status states, as GitHub and Gitea name them (GitLab's "failed" is mapped).
const (
	StatusPending = "pending"
	StatusSuccess = "success"
	StatusFailure = "failure"
	// StatusError is a promotion superseded by a newer revision: neither success
	// nor failure (GitLab: canceled).
	StatusError = "error"
)

// StatusContextPrefix starts the context of every status a promotion posts:
// kubectl-promote/TARGET.
const StatusContextPrefix = "kubectl-promote/"

// maxDescription is GitHub's limit on a status description.
const maxDescription = 140

// Status is a commit status: a state under a context, with a description.
type Status struct {
	State, Context, Description string
}

// CommitStatuses posts commit statuses on a Git host: the promoted commit shows in
// the host's UI (and to CI watching it) whether the promotion worked.
type CommitStatuses interface {
	Name() string
	SetStatus(ctx context.Context, sha string, s Status) error
}

// NewStatuses is the CommitStatuses of the repository at o.RepoURL, through the same
// clients review mode uses.
func NewStatuses(o Options) (CommitStatuses, error) {
	p, err := New(o)
	if err != nil {
		return nil, err
	}
	return p.(CommitStatuses), nil
}

func description(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxDescription {
		s = string(r[:maxDescription-1]) + "…"
	}
	return s
}

func (g *githubProvider) SetStatus(ctx context.Context, sha string, s Status) error {
	_, _, err := g.c.Repositories.CreateStatus(ctx, g.repo.Owner, g.repo.Name, sha, github.RepoStatus{
		State: new(s.State), Context: new(s.Context), Description: new(description(s.Description))})
	if err != nil {
		return hostError(GitHub, "set commit status", g.token, err)
	}
	return nil
}

func (g *gitlabProvider) SetStatus(ctx context.Context, sha string, s Status) error {
	state := gitlab.BuildStateValue(s.State)
	switch s.State {
	case StatusFailure:
		state = gitlab.Failed
	case StatusError:
		state = gitlab.Canceled
	}
	_, _, err := g.c.Commits.SetCommitStatus(g.repo.FullName(), sha, &gitlab.SetCommitStatusOptions{
		State: state, Name: gitlab.Ptr(s.Context), Description: gitlab.Ptr(description(s.Description))}, gitlab.WithContext(ctx))
	if err != nil {
		return hostError(GitLab, "set commit status", g.token, err)
	}
	return nil
}

func (g *giteaProvider) SetStatus(ctx context.Context, sha string, s Status) error {
	g.c.SetContext(ctx)
	_, _, err := g.c.CreateStatus(g.repo.Owner, g.repo.Name, sha, gitea.CreateStatusOption{
		State: gitea.StatusState(s.State), Context: s.Context, Description: description(s.Description)})
	if err != nil {
		return hostError(Gitea, "set commit status", g.token, err)
	}
	return nil
}

// StatusReporter posts a promotion's statuses on one commit and records the last in
// Out. A status that cannot be posted is a warning (Warn, and Out.Warning), never a
// failed promotion.
type StatusReporter struct {
	Host CommitStatuses
	Out  *v1alpha1.CommitStatus
	Warn func(format string, args ...any)
}

// NewStatusReporter reports on sha under kubectl-promote/target.
func NewStatusReporter(host CommitStatuses, target, sha string, warn func(string, ...any)) *StatusReporter {
	return &StatusReporter{Host: host, Warn: warn,
		Out: &v1alpha1.CommitStatus{Provider: host.Name(), Context: StatusContextPrefix + target, SHA: sha}}
}

// Post sets the commit's status; failing to is a warning.
func (r *StatusReporter) Post(ctx context.Context, state, desc string) {
	err := r.Host.SetStatus(ctx, r.Out.SHA, Status{State: state, Context: r.Out.Context, Description: desc})
	if err != nil {
		r.Out.Warning = fmt.Sprintf("could not post commit status %s %s: %v", r.Out.Context, state, err)
		if r.Warn != nil {
			r.Warn("%s", r.Out.Warning)
		}
		return
	}
	r.Out.State, r.Out.Description, r.Out.Warning = state, description(desc), ""
}

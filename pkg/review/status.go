package review

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v93/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
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

// Statuses posts the commit statuses kubectl-promote/TARGET of a promotion's
// targets on their Git host, and says what each state means: pending when pushed,
// success or failure (with the reason) when the follow ends, failure again when the
// promotion is rolled back. It keeps one reporter a target and commit, and each
// target's last status for the document; failing to post is a warning. The
// pipeline tells it what happened (promote.StatusObserver); the words are here.
type Statuses struct {
	// Host is the Git host's statuses for a repository URL; nil (no token) skips
	// quietly, an error with a warning.
	Host func(repoURL string) (CommitStatuses, error)
	Warn func(format string, args ...any)

	mu        sync.Mutex
	reporters map[string]*StatusReporter
}

// postTimeout bounds a status posted after the promotion's own context ended.
const postTimeout = 30 * time.Second

func (s *Statuses) reporter(target, repoURL, sha string) *StatusReporter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.reporters[target]; r != nil && r.Out.SHA == sha {
		return r
	}
	host, err := s.Host(repoURL)
	if host == nil && err == nil {
		return nil // no Git host token: no statuses
	}
	if err != nil {
		s.Warn("no commit status for %s: %v", target, err)
		return nil
	}
	if s.reporters == nil {
		s.reporters = map[string]*StatusReporter{}
	}
	r := NewStatusReporter(host, target, sha, s.Warn)
	s.reporters[target] = r
	return r
}

// post posts state on sha, even when ctx has ended (the follow timed out).
func (s *Statuses) post(ctx context.Context, target, repoURL, sha, state, desc string) {
	if r := s.reporter(target, repoURL, sha); r != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), postTimeout)
		defer cancel()
		r.Post(ctx, state, desc)
	}
}

// Pending says sha was pushed for target and Flux is to apply it.
func (s *Statuses) Pending(ctx context.Context, target, repoURL, sha string) {
	if r := s.reporter(target, repoURL, sha); r != nil {
		r.Post(ctx, StatusPending, "pushed; waiting for Flux to apply it")
	}
}

// Succeeded says target applied sha, healthy and verified.
func (s *Statuses) Succeeded(ctx context.Context, target, repoURL, sha string) {
	s.post(ctx, target, repoURL, sha, StatusSuccess, "applied, healthy and verified")
}

// Superseded says a newer revision replaced sha before target applied it: why.
func (s *Statuses) Superseded(ctx context.Context, target, repoURL, sha, why string) {
	s.post(ctx, target, repoURL, sha, StatusError, why)
}

// Failed says target's follow of sha ended in outcome (unhealthy, timeout…), and
// why: what Flux or the verification reported.
func (s *Statuses) Failed(ctx context.Context, target, repoURL, sha, outcome, why string) {
	s.post(ctx, target, repoURL, sha, StatusFailure, outcome+": "+why)
}

// Reverted posts failure again on sha, which revert rolled back, naming the revert
// and keeping the reason.
func (s *Statuses) Reverted(ctx context.Context, target, repoURL, sha, revert string) {
	r := s.reporter(target, repoURL, sha)
	if r == nil {
		return
	}
	why := r.Out.Description
	if r.Out.State != StatusFailure {
		why = "the promoted revision failed health"
	}
	s.post(ctx, target, repoURL, sha, StatusFailure, "rolled back by "+repo.ShortSHA(revert)+"; "+why)
}

// Status is the last commit status of target, if any.
func (s *Statuses) Status(target string) *v1alpha1.CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.reporters[target]; r != nil {
		return r.Out
	}
	return nil
}
